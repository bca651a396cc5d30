-- Roles, settings and functions that only some hosting providers create (no privilege needed).
SELECT 'role' AS kind, r.rolname::pg_catalog.text AS name, NULL::pg_catalog.text AS value
FROM pg_catalog.pg_roles r
WHERE r.rolname IN ('rds_superuser', 'rdsadmin', 'cloudsqlsuperuser', 'cloudsqladmin',
                    'azure_pg_admin', 'azuresu', 'supabase_admin', 'neon_superuser',
                    'heroku_admin', 'crunchy_superuser', 'alloydbsuperuser')
UNION ALL
SELECT 'setting', s.name::pg_catalog.text, pg_catalog."left"(s.setting, 200)
FROM pg_catalog.pg_settings s
WHERE s.name ~ '^(neon|rds|aurora|apg|cloudsql|azure|supabase|alloydb)\.'
UNION ALL
SELECT 'function', p.proname::pg_catalog.text, NULL
FROM pg_catalog.pg_proc p
WHERE p.proname IN ('aurora_version', 'aurora_db_instance_identifier')
ORDER BY 1, 2
