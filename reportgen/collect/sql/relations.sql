-- Every user relation, one query, each row the JSON object the bundle stores (the Relation
-- model's fields, exactly) in two halves: PostgreSQL builds them, so a 50,000-table catalog
-- never becomes Python objects field by field. Between the halves go the relation's
-- "columns" and "foreign_keys", which catalog.py builds from columns.sql's and
-- foreign_keys.sql's plain rows while this query runs (they were half of its time).
-- Read from pg_catalog (information_schema would hide what the role holds no privilege on);
-- takes no lock on any user table. Statistics come from the pg_stat_get_* functions directly
-- (the pg_stat_all_tables view computes every counter of every row). Sorted by schema and
-- name in code point order (C collation). Every function, type and collation is qualified
-- with pg_catalog, and the session's search_path is empty (connection.py): no object a
-- database user creates can stand in for them (CVE-2018-1058 class). Each half is UTF-8
-- bytes (bytea, read in binary): no decoding and re-encoding of ~1 KB per relation. Whole
-- objects: trimming their braces here (left/substr count characters) cost more than the
-- caller's slicing.
-- Parameters: sized_oids/sized_bytes (sizes read just before), locks (jsonb: oid -> holders),
-- size_error (why sizes could not be read, or NULL), max_sized.
WITH rel AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.relispartition, c.reltuples,
         c.relpages, COALESCE(c.relacl::pg_catalog.text, '') AS acl
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
), priv AS (
  -- has_table_privilege(oid, 'SELECT') depends only on the relation's ACL and owner (and,
  -- for sequences, none here, on the kind): asked once per distinct pair, not per relation,
  -- as each call looks the relation up in this backend's cold catalog cache. A relation
  -- dropped since the snapshot began makes it NULL: such a group is asked per relation.
  SELECT acl, relowner, pg_catalog.has_table_privilege(pg_catalog.min(oid), 'SELECT') AS readable
  FROM rel GROUP BY acl, relowner
), cons AS (
  SELECT con.conrelid AS oid, pg_catalog.array_agg(con.conname ORDER BY con.conname) AS names
  FROM pg_catalog.pg_constraint con JOIN rel ON rel.oid = con.conrelid
  GROUP BY con.conrelid
), idx AS (
  -- Each index's name and key: its key columns in order (not INCLUDE columns; NULL for an
  -- expression), unique, primary, partial. Checks for the keys Django names itself (a
  -- foreign key's index, unique=True, db_index) look for the key, not the name.
  SELECT i.indrelid AS oid, pg_catalog.array_agg(ic.relname ORDER BY ic.relname) AS names,
         pg_catalog.json_agg(pg_catalog.json_build_object(
           'name', ic.relname,
           'columns', (SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord)
                       FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[])
                            WITH ORDINALITY AS k(attnum, ord)
                       LEFT JOIN pg_catalog.pg_attribute a
                         ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       WHERE k.ord <= i.indnkeyatts),
           'unique', i.indisunique, 'primary', i.indisprimary,
           'partial', i.indpred IS NOT NULL) ORDER BY ic.relname) AS keys
  FROM pg_catalog.pg_index i JOIN rel ON rel.oid = i.indrelid
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  GROUP BY i.indrelid
), sized AS (
  SELECT * FROM ROWS FROM (pg_catalog.unnest(%(sized_oids)s::pg_catalog.oid[]),
                          pg_catalog.unnest(%(sized_bytes)s::pg_catalog.int8[])) AS s(oid, total)
), locked AS (
  SELECT j.key::pg_catalog.oid AS oid, j.value AS holders
  FROM pg_catalog.jsonb_each(%(locks)s::pg_catalog.jsonb) j
)
SELECT rel.oid::pg_catalog.int8, pg_catalog.convert_to(pg_catalog.json_build_object(
  'schema_name', rel.nspname, 'name', rel.relname, 'oid', rel.oid::pg_catalog.int8,
  'kind', CASE rel.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
          WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
  'owner', pg_catalog.pg_get_userbyid(rel.relowner), 'is_partition', rel.relispartition,
  -- reltuples is -1 for never analyzed/vacuumed: unknown, not zero.
  'row_estimate', CASE WHEN rel.reltuples < 0 THEN NULL ELSE pg_catalog.trunc(rel.reltuples)::pg_catalog.int8 END,
  'estimated_bytes', rel.relpages::pg_catalog.int8
                     * pg_catalog.current_setting('block_size')::pg_catalog.int8,
  'total_bytes', sized.total,
  'size_error', CASE
     WHEN rel.relkind = 'v' THEN 'views have no storage'
     WHEN locked.oid IS NOT NULL
       THEN 'not sized: another session holds or awaits ACCESS EXCLUSIVE (see locked_by)'
     WHEN sized.total IS NOT NULL THEN NULL
     WHEN %(size_error)s::pg_catalog.text IS NOT NULL
       THEN 'size not read: ' || %(size_error)s::pg_catalog.text
     ELSE 'estimate only: exact sizes are read for the ' || %(max_sized)s::pg_catalog.int4
          || ' largest relations' END,
  'index_count', COALESCE(pg_catalog.cardinality(idx.names), 0),
  'indexes', COALESCE(idx.names, '{}'),
  'index_keys', COALESCE(idx.keys, '[]'::pg_catalog.json),
  'constraints', COALESCE(cons.names, '{}')
)::pg_catalog.text, 'UTF8'), pg_catalog.convert_to(pg_catalog.json_build_object(
  'readable', COALESCE(priv.readable, pg_catalog.has_table_privilege(rel.oid, 'SELECT')),
  'live_tuples', st.live, 'dead_tuples', st.dead, 'inserted_tuples', st.inserted,
  'updated_tuples', st.updated, 'deleted_tuples', st.deleted,
  'last_analyze', st.last_analyze, 'last_vacuum', st.last_vacuum,
  'locked_by', COALESCE(locked.holders, '[]'::pg_catalog.jsonb),
  'exact_rows', NULL, 'count_error', NULL
)::pg_catalog.text, 'UTF8')
FROM rel
LEFT JOIN priv ON priv.acl = rel.acl AND priv.relowner = rel.relowner
LEFT JOIN cons ON cons.oid = rel.oid
LEFT JOIN idx ON idx.oid = rel.oid
LEFT JOIN sized ON sized.oid = rel.oid
LEFT JOIN locked ON locked.oid = rel.oid
-- Activity statistics exist for tables, partitioned tables and materialized views only.
LEFT JOIN LATERAL (
  SELECT pg_catalog.pg_stat_get_live_tuples(rel.oid) AS live,
         pg_catalog.pg_stat_get_dead_tuples(rel.oid) AS dead,
         pg_catalog.pg_stat_get_tuples_inserted(rel.oid) AS inserted,
         pg_catalog.pg_stat_get_tuples_updated(rel.oid) AS updated,
         pg_catalog.pg_stat_get_tuples_deleted(rel.oid) AS deleted,
         GREATEST(pg_catalog.pg_stat_get_last_analyze_time(rel.oid),
                  pg_catalog.pg_stat_get_last_autoanalyze_time(rel.oid)) AS last_analyze,
         GREATEST(pg_catalog.pg_stat_get_last_vacuum_time(rel.oid),
                  pg_catalog.pg_stat_get_last_autovacuum_time(rel.oid)) AS last_vacuum
) st ON rel.relkind IN ('r', 'p', 'm')
ORDER BY rel.nspname COLLATE pg_catalog."C", rel.relname COLLATE pg_catalog."C"
