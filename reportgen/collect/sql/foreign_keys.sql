-- Foreign keys between user relations (relations.sql's relations, on both sides) and primary
-- keys, one row each, with column numbers: catalog.py names the columns from columns.sql's
-- rows and builds each relation's "foreign_keys" and "primary_key" JSON while PostgreSQL
-- works on relations.sql. A primary key has no referenced relation (its ref_* are NULL).
SELECT con.conrelid::pg_catalog.int8 AS oid, con.contype::pg_catalog.text AS kind,
       con.conname::pg_catalog.text AS name, con.conkey::pg_catalog.int4[] AS cols,
       con.confrelid::pg_catalog.int8 AS ref_oid, rn.nspname::pg_catalog.text AS ref_schema,
       rc.relname::pg_catalog.text AS ref_table, con.confkey::pg_catalog.int4[] AS ref_cols
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND (con.contype = 'p'
       OR (con.contype = 'f'
           AND rc.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND rn.nspname NOT IN ('pg_catalog', 'information_schema')
           AND rn.nspname !~ '^pg_(toast|temp_|toast_temp_)'))
