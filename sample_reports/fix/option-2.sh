#!/usr/bin/env bash
# reportgen fix for Option 2: Neon point-in-time branch (production endpoint
# ep-lively-queen-a13dp7w6)
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:bea3d0ac6eac74657fb7d75353e556b38bd9eebae46847aad0b075142c306254 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715362958777901601), collected 2026-12-04 08:28:46 UTC. Re-assess before running it if the
# database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID first (see the report)}"
neon branches create --project-id "${PROJECT_ID}" --name restore-20261204-0812 --parent \
2026-12-04T08:12:45Z
neon connection-string restore-20261204-0812 --project-id "${PROJECT_ID}"
