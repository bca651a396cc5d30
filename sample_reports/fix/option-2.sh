#!/usr/bin/env bash
# reportgen fix for Option 2: Neon point-in-time branch (production endpoint
# ep-lively-queen-a13dp7w6)
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:76d6908b27cd9809ea1842250f9f2c48bd18f5ae6bd33e2d2a86692b744d9733 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715256996738939889), collected 2026-12-04 01:37:34 UTC. Re-assess before running it if the
# database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID first (see the report)}"
neon branches create --project-id "${PROJECT_ID}" --name restore-20261204-0121 --parent \
2026-12-04T01:21:33Z
neon connection-string restore-20261204-0121 --project-id "${PROJECT_ID}"
