#!/usr/bin/env bash
# reportgen fix for Option 2: Neon point-in-time branch (production endpoint
# ep-lively-queen-a13dp7w6)
# When it applies: Rows or tables may be lost, or the pre-incident state is needed as a
# baseline. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:d74f0d7d80729101448ae7b57d59bb4a088b0ccd2e163cd74c558d7d24ea15a3 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715497513974119339), collected 2026-12-04 17:10:56 UTC. Re-assess before running it if the
# database changed since.
# Undo: delete the new copy it created; production is not touched.
# Run: bash fix/option-2.sh
# From: any folder
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID first (see the report)}"
neon branches create --project-id "${PROJECT_ID}" --name restore-20261204-1654 --parent \
2026-12-04T16:54:54Z
neon connection-string restore-20261204-1654 --project-id "${PROJECT_ID}"
