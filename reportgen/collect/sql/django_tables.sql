-- Where is django_migrations (any schema), and may we read it?
SELECT n.nspname AS schema_name, c.oid::bigint AS oid,
       has_table_privilege(c.oid, 'SELECT') AS readable,
       n.nspname = ANY(current_schemas(false)) AS on_search_path
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p', 'v')
ORDER BY on_search_path DESC, n.nspname
