#!/usr/bin/env bash
# reportgen fix for Option 2: Neon point-in-time branch (production endpoint
# ep-lively-queen-a13dp7w6)
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:af69a567c2d8bd11beaf6d22b35957980d50e57bc310d361b3d3b7bd924d0eac from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715246291588326995), collected 2026-12-04 00:56:02 UTC. Re-assess before running it if the
# database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID first (see the report)}"
neon branches create --project-id "${PROJECT_ID}" --name restore-20261204-0040 --parent \
2026-12-04T00:40:01Z
neon connection-string restore-20261204-0040 --project-id "${PROJECT_ID}"
