-- Other sessions holding, or queued for, ACCESS EXCLUSIVE on a user relation. Our own
-- ACCESS SHARE request (a size function) would wait behind either, so those relations are
-- not sized. Reading pg_locks takes no relation lock.
SELECT l.relation::pg_catalog.int8 AS oid, l.pid, l.mode, l.granted,
       a.application_name, a.usename::pg_catalog.text AS "user", a.state, a.xact_start,
       EXTRACT(EPOCH FROM (pg_catalog.now() - a.xact_start))::pg_catalog.float8
         AS waiting_seconds,
       pg_catalog."left"(a.query, 300) AS query
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                    WHERE d.datname = pg_catalog.current_database())
ORDER BY l.relation, l.granted DESC, l.pid
