#!/usr/bin/env bash
# reportgen fix for Option 2: Neon point-in-time branch (production endpoint
# ep-lively-queen-a13dp7w6)
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:ff86c8dea1427906c1bc7d679bc35e3fa875b31bf2cfde22dd098bae18d51602 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715291455489874453), collected 2026-12-04 03:51:18 UTC. Re-assess before running it if the
# database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID first (see the report)}"
neon branches create --project-id "${PROJECT_ID}" --name restore-20261204-0335 --parent \
2026-12-04T03:35:16Z
neon connection-string restore-20261204-0335 --project-id "${PROJECT_ID}"
