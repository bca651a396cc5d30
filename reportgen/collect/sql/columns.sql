-- The columns of every user relation (relations.sql's relations), one row each, attnum
-- order not promised: catalog.py groups and orders them, and turns them into each relation's
-- "columns" JSON while PostgreSQL works on relations.sql. No join to aggregate, no sort: the
-- cheapest way for the server to hand over ~4 rows per relation. attgenerated: PostgreSQL 12+.
-- Every function and type is qualified with pg_catalog (and the session's search_path is
-- empty): no object a database user creates can stand in for them (CVE-2018-1058 class).
SELECT a.attrelid::pg_catalog.int8 AS oid, a.attnum::pg_catalog.int4 AS num,
       a.attname::pg_catalog.text AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       a.attgenerated <> '' AS generated
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND a.attnum > 0 AND NOT a.attisdropped
