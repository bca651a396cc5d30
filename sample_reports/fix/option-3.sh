#!/usr/bin/env bash
# reportgen fix for Option 3: Fix the migration that references a missing model
# When it applies: A migration points at a model/table that no migration creates. Data-loss
# risk: LOW.
# Verified against: evidence bundle
# sha256:af33c74b890b9a62d029d2047f13f9fe23ea40204d2f9cb916da3ce78d853d9f from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715345334564922960), collected 2026-12-04 07:20:21 UTC. Re-assess before running it if the
# database changed since.
# Undo: nothing to undo: the command only reads the migration file.
# Run: bash fix/option-3.sh
# From: the application's folder (where manage.py is): copy fix/ there, or give its path
set -euo pipefail
grep -n -F -e organizations.Team -- apps/competition/migrations/0001_add_competition_models.py
