-- One row: who and where we are. Read-only functions only.
SELECT
  current_database()                                   AS current_database,
  current_user                                          AS current_user,
  session_user                                          AS session_user,
  current_schema()                                      AS current_schema,
  current_setting('search_path')                        AS search_path,
  host(inet_server_addr())                              AS server_addr,
  inet_server_port()                                    AS server_port,
  current_setting('server_version')                     AS server_version,
  current_setting('server_version_num')::int            AS server_version_num,
  version()                                             AS version_string,
  pg_is_in_recovery()                                   AS in_recovery,
  (SELECT s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid())     AS ssl,
  (SELECT s.version FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()) AS ssl_version,
  (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)   AS is_superuser,
  ARRAY(
    SELECT r.rolname::text FROM pg_roles r
    WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND r.rolname <> current_user
    ORDER BY r.rolname
  )                                                     AS role_memberships,
  now()                                                 AS server_time,
  current_setting('TimeZone')                           AS server_timezone,
  pg_postmaster_start_time()                            AS postmaster_start_time,
  CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
       THEN (SELECT c.system_identifier::text FROM pg_control_system() c)
  END                                                   AS system_identifier
