-- Per schema: relations in pg_class beside those information_schema.tables shows this role.
WITH cat AS (
  -- information_schema.tables never lists materialized views: they are left out of both.
  SELECT n.nspname AS schema_name,
         pg_catalog.count(*) FILTER (WHERE c.relkind <> 'm') AS pg_class,
         pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usage
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  GROUP BY n.nspname, n.oid
), info AS (
  SELECT t.table_schema::pg_catalog.text AS schema_name,
         pg_catalog.count(*) AS information_schema
  FROM information_schema.tables t
  GROUP BY t.table_schema
)
SELECT cat.schema_name::pg_catalog.text AS schema_name, cat.pg_class::pg_catalog.int4 AS pg_class,
       COALESCE(info.information_schema, 0)::pg_catalog.int4 AS information_schema, cat.usage
FROM cat LEFT JOIN info ON info.schema_name = cat.schema_name::pg_catalog.text
ORDER BY cat.schema_name
