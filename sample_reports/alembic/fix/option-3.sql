-- reportgen fix for Option 3: Stamp the verified revisions (alembic stamp)
-- When it applies: Tables are present and alembic_version is behind them. Data-loss risk: LOW.
-- Verified against: evidence bundle
-- sha256:f3f1e28a7d1d2318ba27fd972089f066883f89b0d9ce1fe60c00988211e6e477 from database
-- mlflow_tracking on 127.0.0.1 (system identifier 7715507026092693393), collected 2026-12-04
-- 17:48:00 UTC. Re-assess before running it if the database changed since.
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
