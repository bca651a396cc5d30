-- One row: who and where we are. Read-only functions only, each qualified with pg_catalog.
-- search_path is the session's own (read before reportgen emptied it for the snapshot; the
-- caller passes it in).
SELECT
  pg_catalog.current_database()                         AS current_database,
  CURRENT_USER::pg_catalog.text                         AS current_user,
  SESSION_USER::pg_catalog.text                         AS session_user,
  %(search_path)s::pg_catalog.text                      AS search_path,
  -- current_schema() as the application sees it: the first schema of its search_path that
  -- exists and that it may use (this session's own search_path is empty).
  (SELECT s.name FROM pg_catalog.unnest(%(schemas)s::pg_catalog.text[]) WITH ORDINALITY
          AS s(name, i)
   JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
   WHERE pg_catalog.has_schema_privilege(n.oid, 'USAGE')
   ORDER BY s.i LIMIT 1)                                AS current_schema,
  pg_catalog.host(pg_catalog.inet_server_addr())        AS server_addr,
  pg_catalog.inet_server_port()                         AS server_port,
  pg_catalog.current_setting('server_version')          AS server_version,
  pg_catalog.current_setting('server_version_num')::pg_catalog.int4 AS server_version_num,
  pg_catalog.version()                                  AS version_string,
  pg_catalog.pg_is_in_recovery()                        AS in_recovery,
  (SELECT s.ssl FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_catalog.pg_backend_pid())
                                                        AS ssl,
  (SELECT s.version FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_catalog.pg_backend_pid())
                                                        AS ssl_version,
  (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
                                                        AS is_superuser,
  ARRAY(
    SELECT r.rolname::pg_catalog.text FROM pg_catalog.pg_roles r
    WHERE pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'MEMBER') AND r.rolname <> CURRENT_USER
    ORDER BY r.rolname
  )                                                     AS role_memberships,
  pg_catalog.now()                                      AS server_time,
  pg_catalog.current_setting('TimeZone')                AS server_timezone,
  pg_catalog.pg_postmaster_start_time()                 AS postmaster_start_time,
  pg_catalog.pg_backend_pid()                           AS backend_pid,
  -- How the server writes its log (a stderr log is parsed with this prefix's own escapes).
  pg_catalog.current_setting('log_line_prefix', true)   AS log_line_prefix,
  pg_catalog.current_setting('log_destination', true)   AS log_destination,
  CASE WHEN pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')
       THEN (SELECT c.system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system() c)
  END                                                   AS system_identifier
