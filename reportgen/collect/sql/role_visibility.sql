-- For roles a server log shows listing tables: per schema, the relations information_schema
-- would show each of them (as information_schema.tables decides: the role owns the relation,
-- or holds a privilege on it or on one of its columns) beside what pg_class holds. Roles are
-- parameters (names from a log are input, never SQL); unknown ones give no row.
SELECT r.rolname::pg_catalog.text AS role, n.nspname::pg_catalog.text AS schema_name,
       pg_catalog.count(*) FILTER (WHERE
         pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE')
         OR pg_catalog.has_table_privilege(r.oid, c.oid,
              'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
         OR pg_catalog.has_any_column_privilege(r.oid, c.oid,
              'SELECT, INSERT, UPDATE, REFERENCES'))::pg_catalog.int4 AS visible,
       pg_catalog.count(*)::pg_catalog.int4 AS pg_class
FROM pg_catalog.pg_roles r
CROSS JOIN pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE r.rolname = ANY(%(roles)s::pg_catalog.text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
GROUP BY r.rolname, n.nspname
ORDER BY r.rolname COLLATE pg_catalog."C", n.nspname COLLATE pg_catalog."C"
