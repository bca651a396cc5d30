#!/usr/bin/env bash
# reportgen fix for Option 2: Copy the lost tables back from the restored copy
# When it applies: Tables are gone and a point-in-time copy exists. Data-loss risk: MEDIUM.
# Verified against: evidence bundle
# sha256:f3f1e28a7d1d2318ba27fd972089f066883f89b0d9ce1fe60c00988211e6e477 from database
# mlflow_tracking on 127.0.0.1 (system identifier 7715507026092693393), collected 2026-12-04
# 17:48:00 UTC. Re-assess before running it if the database changed since.
# Undo: drop the tables it restored (they were missing before it ran); the restore is one
# transaction: if it fails, nothing changed.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PRODUCTION_DSN:?set PRODUCTION_DSN first (see the report)}"
: "${RESTORED_DSN:?set RESTORED_DSN first (see the report)}"
pg_dump --format=custom --no-owner --strict-names -t '"public"."webhook_events"' \
"$RESTORED_DSN" -f lost-tables.dump && \
 pg_restore --single-transaction --no-owner -d \
"$PRODUCTION_DSN" lost-tables.dump
