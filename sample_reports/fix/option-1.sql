-- reportgen fix for Option 1: Re-record the verified migrations (Django's MigrationRecorder)
-- When it applies: Tables are present and migration records are missing. Data-loss risk: LOW.
-- Verified against: evidence bundle
-- sha256:c76a8e1b7b0c4ebbf488c016258d61f29b3e6deb8e0ef2aa5d5740ed15ffa543 from database
-- deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
-- 7715506954900481598), collected 2026-12-04 17:47:33 UTC. Re-assess before running it if the
-- database changed since.
-- Undo: set UNDO = True in the Python file and run it the same way: exactly these records are
-- removed again (the SQL file's rows are the same ones).
-- Run: psql "$PRODUCTION_DSN" -X -f fix/option-1.sql
\set ON_ERROR_STOP on
SELECT pg_catalog.set_config('search_path', '', false);
SET standard_conforming_strings = on;
SET row_security = off;
-- The same rows as the MigrationRecorder file, nothing else.
BEGIN;
INSERT INTO "public"."django_migrations" (app, name, applied) VALUES
('organizations', '0001_initial', pg_catalog.now()),
('teams', '0001_initial', pg_catalog.now()),
('organizations', '0002_org_membership', pg_catalog.now()),
('organizations', '0003_org_ranking', pg_catalog.now()),
('organizations', '0004_ranking', pg_catalog.now()),
('organizations', '0005_team_invite', pg_catalog.now()),
('organizations', '0006_activity_log', pg_catalog.now()),
('organizations', '0007_migration_map', pg_catalog.now()),
('organizations', '0008_organization_slug', pg_catalog.now()),
('organizations', '0009_membership_joined_at', pg_catalog.now()),
('organizations', '0010_activity_log_index', pg_catalog.now()),
('organizations', '0011_backfill_slugs', pg_catalog.now()),
('organizations', '0012_alter_membership_invite_team_fk', pg_catalog.now()),
('teams', '0002_initial', pg_catalog.now()),
('teams', '0099_team_region', pg_catalog.now()),
('teams', '0100_chat', pg_catalog.now()),
('teams', '0101_team_name_index', pg_catalog.now());
COMMIT;
