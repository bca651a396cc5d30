-- Per schema: relations in pg_class beside those information_schema.tables shows this role.
WITH cat AS (
  -- information_schema.tables never lists materialized views: they are left out of both.
  SELECT n.nspname AS schema_name, count(*) FILTER (WHERE c.relkind <> 'm') AS pg_class,
         has_schema_privilege(n.oid, 'USAGE') AS usage
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  GROUP BY n.nspname, n.oid
), info AS (
  SELECT table_schema::text AS schema_name, count(*) AS information_schema
  FROM information_schema.tables
  GROUP BY table_schema
)
SELECT cat.schema_name, cat.pg_class::int, COALESCE(info.information_schema, 0)::int
       AS information_schema, cat.usage
FROM cat LEFT JOIN info USING (schema_name)
ORDER BY cat.schema_name
