-- Sizes of the largest relations not locked by others (their oids passed in), chosen by
-- relpages (no lock needed to read it); with the number of relations that could be sized.
-- The size function takes ACCESS SHARE on the relation, its indexes and TOAST, and releases
-- each lock as it returns; the subquery's LIMIT applies first, so at most max_sized relations
-- are opened. lock_timeout bounds any wait, and the caller runs this inside a savepoint it
-- rolls back, which would give back any lock still held.
SELECT s.oid::pg_catalog.int8 AS oid,
       pg_catalog.pg_total_relation_size(s.oid::pg_catalog.regclass) AS total_bytes,
       s.sizable::pg_catalog.int4 AS sizable
FROM (
  SELECT c.oid, pg_catalog.count(*) OVER () AS sizable
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
    AND c.oid <> ALL (%(locked)s::pg_catalog.oid[])
  ORDER BY c.relpages DESC, c.oid
  LIMIT %(max_sized)s
) s
