-- Sizes of the relations not locked by others (oids passed in). The size function takes
-- ACCESS SHARE; lock_timeout bounds any wait, and the caller runs this inside a savepoint.
SELECT c.oid::bigint AS oid, pg_total_relation_size(c.oid) AS total_bytes
FROM pg_class c
WHERE c.oid = ANY(%(oids)s::oid[]) AND c.relkind IN ('r', 'p', 'm', 'f')
