-- Destructive statements recorded by pg_stat_statements (when installed and readable).
-- The extension's schema is passed in (quoted by the caller): its view is never looked up
-- through a search_path.
SELECT s.query, s.calls::pg_catalog.int8 AS calls, s.rows::pg_catalog.int8 AS rows,
       pg_catalog.pg_get_userbyid(s.userid) AS "user"
FROM {schema}.pg_stat_statements s
WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d
                WHERE d.datname = pg_catalog.current_database())
  AND s.query ~* '^\s*(drop|truncate|delete|update|alter\s+table)\M'
ORDER BY s.calls DESC
LIMIT 200
