-- Constraints (all kinds), one query; column numbers are resolved to names by the caller
-- from the columns already read (no per-constraint subqueries, no pg_get_constraintdef).
SELECT con.conrelid::bigint AS oid, con.conname AS name, con.contype::text AS contype,
       con.confrelid::bigint AS ref_oid, rn.nspname AS ref_schema, rc.relname AS ref_table,
       con.conkey::int[] AS conkey, con.confkey::int[] AS confkey
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY con.conrelid, con.conname
