-- Where is django_migrations (any schema, any kind of relation), and may we read it?
-- Only an ordinary or partitioned table is ever read: a view, a materialized view or a
-- foreign table of that name is reported, not read (a view runs its owner's code).
-- search_path: the schemas of the session's own search_path (read before reportgen
-- emptied it), in order; the first schema on it that holds a table is the one Django uses.
SELECT n.nspname::pg_catalog.text AS schema_name, c.oid::pg_catalog.int8 AS oid,
       c.relkind::pg_catalog.text AS relkind,
       pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
       -- relfilenode is the oid at creation; TRUNCATE (or VACUUM FULL, CLUSTER) gives the
       -- table a new one: rows can have left it without a counted delete.
       CASE WHEN c.relfilenode = 0 THEN NULL ELSE c.relfilenode <> c.oid END AS rewritten,
       pg_catalog.array_position(%(search_path)s::pg_catalog.text[],
                                 n.nspname::pg_catalog.text) AS path_position
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY path_position NULLS LAST, n.nspname COLLATE pg_catalog."C"
