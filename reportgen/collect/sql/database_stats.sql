-- This database's counters since statistics were last reset (one row).
SELECT d.stats_reset, d.xact_commit, d.xact_rollback, d.tup_inserted, d.tup_updated,
       d.tup_deleted, d.conflicts, d.deadlocks
FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()
