-- Every user relation, one query, from pg_catalog (information_schema would hide what the
-- role holds no privilege on). Takes no lock on any user table. Statistics come from the
-- pg_stat_get_* functions directly: the pg_stat_all_tables view computes every counter of
-- every row, which dominates on large catalogs.
SELECT
  n.nspname                          AS schema_name,
  c.relname                          AS name,
  c.oid::bigint                      AS oid,
  c.relkind::text                    AS relkind,
  pg_get_userbyid(c.relowner)        AS owner,
  c.relispartition                   AS is_partition,
  c.reltuples::float8                AS reltuples,
  c.relpages::bigint * current_setting('block_size')::bigint AS estimated_bytes,
  has_table_privilege(c.oid, 'SELECT') AS readable,
  COALESCE(ix.n, 0)::int             AS index_count,
  s.live_tuples, s.dead_tuples, s.inserted_tuples, s.updated_tuples, s.deleted_tuples,
  s.last_analyze, s.last_vacuum
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN (SELECT indrelid, count(*) AS n FROM pg_index GROUP BY indrelid) ix
  ON ix.indrelid = c.oid
LEFT JOIN LATERAL (
  SELECT pg_stat_get_live_tuples(c.oid)      AS live_tuples,
         pg_stat_get_dead_tuples(c.oid)      AS dead_tuples,
         pg_stat_get_tuples_inserted(c.oid)  AS inserted_tuples,
         pg_stat_get_tuples_updated(c.oid)   AS updated_tuples,
         pg_stat_get_tuples_deleted(c.oid)   AS deleted_tuples,
         GREATEST(pg_stat_get_last_analyze_time(c.oid),
                  pg_stat_get_last_autoanalyze_time(c.oid)) AS last_analyze,
         GREATEST(pg_stat_get_last_vacuum_time(c.oid),
                  pg_stat_get_last_autovacuum_time(c.oid))  AS last_vacuum
  WHERE c.relkind IN ('r', 'p', 'm')
) s ON true
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY n.nspname, c.relname
