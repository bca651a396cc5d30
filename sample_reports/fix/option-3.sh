#!/usr/bin/env bash
# reportgen fix for Option 3: Fix the migration that references a missing model
# When it applies: A migration points at a model/table that no migration creates. Data-loss
# risk: LOW.
# Verified against: evidence bundle
# sha256:c76a8e1b7b0c4ebbf488c016258d61f29b3e6deb8e0ef2aa5d5740ed15ffa543 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715506954900481598), collected 2026-12-04 17:47:33 UTC. Re-assess before running it if the
# database changed since.
# Undo: nothing to undo: the command only reads the migration file.
# Run: bash fix/option-3.sh
# From: the application's folder (where manage.py is): copy fix/ there, or give its path
set -euo pipefail
grep -n -F -e organizations.Team -- apps/competition/migrations/0001_add_competition_models.py
