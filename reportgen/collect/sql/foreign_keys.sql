-- Foreign keys between user relations (relations.sql's relations, on both sides), one row
-- each, with column numbers: catalog.py names the columns from columns.sql's rows and builds
-- each relation's "foreign_keys" JSON while PostgreSQL works on relations.sql.
SELECT con.conrelid::bigint AS oid, con.conname::text AS name, con.conkey::int[] AS cols,
       con.confrelid::bigint AS ref_oid, rn.nspname::text AS ref_schema,
       rc.relname::text AS ref_table, con.confkey::int[] AS ref_cols
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND rc.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND rn.nspname NOT IN ('pg_catalog', 'information_schema')
  AND rn.nspname !~ '^pg_(toast|temp_|toast_temp_)'
