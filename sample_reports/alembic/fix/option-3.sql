-- reportgen fix for Option 3: Stamp the verified revisions (alembic stamp)
-- When it applies: Tables are present and alembic_version is behind them. Data-loss risk: LOW.
-- Verified against: evidence bundle
-- sha256:85273c0a088e9f020388a40a66e1b39c909714a28a532cac42e420cd57a5e24f from database
-- mlflow_tracking on 127.0.0.1 (system identifier 7715345362095118111), collected 2026-12-04
-- 07:20:37 UTC. Re-assess before running it if the database changed since.
-- Undo: `alembic -c alembic.ini stamp --purge 867495a8f9d4` puts back what alembic_version
-- held.
-- Run: psql "$PRODUCTION_DSN" -X -f fix/option-3.sql
\set ON_ERROR_STOP on
SELECT pg_catalog.set_config('search_path', '', false);
SET standard_conforming_strings = on;
SET row_security = off;
-- The same rows as `alembic stamp --purge`, nothing else.
BEGIN;
DELETE FROM "public"."alembic_version";
INSERT INTO "public"."alembic_version" (version_num) VALUES
('de4033877273');
COMMIT;
