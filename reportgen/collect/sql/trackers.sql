-- Migration-tracking tables of other tools, in any schema, with their columns.
SELECT n.nspname AS schema_name, c.relname AS name, has_table_privilege(c.oid, 'SELECT') AS readable,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v')
  AND c.relname IN ('alembic_version', 'flyway_schema_history', 'databasechangelog',
                    'databasechangeloglock', 'schema_migrations', 'ar_internal_metadata',
                    '_prisma_migrations')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname, c.relname
