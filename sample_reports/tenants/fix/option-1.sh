#!/usr/bin/env bash
# reportgen fix for Option 1: PostgreSQL point-in-time recovery on a separate host
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:dbb0fef223c68b6cb5d61132cbb82c316a3273658a719b037e8ee0840d7a0e38 from database saas on
# 127.0.0.1 (system identifier 7715507132992673893), collected 2026-12-04 17:48:23 UTC.
# Re-assess before running it if the database changed since.
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
