-- Every user relation, one query, from pg_catalog (information_schema would hide what the
-- role holds no privilege on). Takes no lock on any user table.
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
  (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)::int AS index_count,
  s.n_live_tup                       AS live_tuples,
  s.n_dead_tup                       AS dead_tuples,
  s.n_tup_ins                        AS inserted_tuples,
  s.n_tup_upd                        AS updated_tuples,
  s.n_tup_del                        AS deleted_tuples,
  GREATEST(s.last_analyze, s.last_autoanalyze) AS last_analyze,
  GREATEST(s.last_vacuum, s.last_autovacuum)   AS last_vacuum
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY n.nspname, c.relname
