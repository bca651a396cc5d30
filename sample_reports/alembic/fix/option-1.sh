#!/usr/bin/env bash
# reportgen fix for Option 1: PostgreSQL point-in-time recovery on a separate host
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:f3f1e28a7d1d2318ba27fd972089f066883f89b0d9ce1fe60c00988211e6e477 from database
# mlflow_tracking on 127.0.0.1 (system identifier 7715507026092693393), collected 2026-12-04
# 17:48:00 UTC. Re-assess before running it if the database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-1.sh
# From: any folder
set -euo pipefail
: "${RESTORED_DATADIR:?set RESTORED_DATADIR first (see the report)}"
echo "restore_command = 'cp /path/to/wal_archive/%f %p'" >> \
"${RESTORED_DATADIR}"/postgresql.auto.conf
echo "recovery_target_time = '<TIME-BEFORE-INCIDENT>'" >> \
"${RESTORED_DATADIR}"/postgresql.auto.conf
echo "recovery_target_action = 'promote'" >> "${RESTORED_DATADIR}"/postgresql.auto.conf
touch "${RESTORED_DATADIR}"/recovery.signal
pg_ctl -D "${RESTORED_DATADIR}" start
