-- Migration-tracking tables of other tools, in any schema, with their columns and kind.
-- Only ordinary and partitioned tables are read (trackers.py); a view, materialized view
-- or foreign table of a tracker's name is reported and never read.
SELECT n.nspname::pg_catalog.text AS schema_name, c.relname::pg_catalog.text AS name,
       c.relkind::pg_catalog.text AS relkind,
       pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
       ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum) AS columns
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (c.relname IN ('alembic_version', 'flyway_schema_history', 'databasechangelog',
                     'databasechangeloglock', 'schema_migrations', 'ar_internal_metadata',
                     '_prisma_migrations')
       -- sqitch's registry: its changes table, in a schema of its own (sqitch by default)
       OR (c.relname = 'changes' AND n.nspname = 'sqitch'))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname COLLATE pg_catalog."C", c.relname COLLATE pg_catalog."C"
