-- Roles, settings and functions that only some hosting providers create (no privilege needed).
SELECT 'role' AS kind, r.rolname::text AS name, NULL::text AS value
FROM pg_roles r
WHERE r.rolname IN ('rds_superuser', 'rdsadmin', 'cloudsqlsuperuser', 'cloudsqladmin',
                    'azure_pg_admin', 'azuresu', 'supabase_admin', 'neon_superuser',
                    'heroku_admin', 'crunchy_superuser', 'alloydbsuperuser')
UNION ALL
SELECT 'setting', s.name::text, left(s.setting, 200)
FROM pg_settings s
WHERE s.name ~ '^(neon|rds|aurora|apg|cloudsql|azure|supabase|alloydb)\.'
UNION ALL
SELECT 'function', p.proname::text, NULL
FROM pg_proc p
WHERE p.proname IN ('aurora_version', 'aurora_db_instance_identifier')
ORDER BY 1, 2
