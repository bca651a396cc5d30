#!/usr/bin/env bash
# reportgen fix for Option 3: Fix the migration that references a missing model
# When it applies: A migration points at a model/table that no migration creates. Data-loss
# risk: LOW.
# Verified against: evidence bundle
# sha256:d74f0d7d80729101448ae7b57d59bb4a088b0ccd2e163cd74c558d7d24ea15a3 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715497513974119339), collected 2026-12-04 17:10:56 UTC. Re-assess before running it if the
# database changed since.
# Undo: nothing to undo: the command only reads the migration file.
# Run: bash fix/option-3.sh
# From: the application's folder (where manage.py is): copy fix/ there, or give its path
set -euo pipefail
grep -n -F -e organizations.Team -- apps/competition/migrations/0001_add_competition_models.py
