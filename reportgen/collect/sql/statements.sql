-- Destructive statements recorded by pg_stat_statements (when installed and readable).
SELECT s.query, s.calls::bigint AS calls, s.rows::bigint AS rows,
       pg_get_userbyid(s.userid) AS "user"
FROM pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query ~* '^\s*(drop|truncate|delete|update|alter\s+table)\M'
ORDER BY s.calls DESC
LIMIT 200
