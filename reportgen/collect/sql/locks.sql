-- Other sessions holding, or queued for, ACCESS EXCLUSIVE on a user relation. Our own
-- ACCESS SHARE request (a size function) would wait behind either, so those relations are
-- not sized. Reading pg_locks takes no relation lock.
SELECT l.relation::bigint AS oid, l.pid, l.mode, l.granted,
       a.application_name, a.usename::text AS "user", a.state, a.xact_start,
       EXTRACT(EPOCH FROM (now() - a.xact_start))::float8 AS waiting_seconds,
       left(a.query, 300) AS query
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database
                                                   WHERE datname = current_database())
ORDER BY l.relation, l.granted DESC, l.pid
