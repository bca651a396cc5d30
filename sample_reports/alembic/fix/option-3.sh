#!/usr/bin/env bash
# reportgen fix for Option 3: Stamp the verified revisions (alembic stamp)
# When it applies: Tables are present and alembic_version is behind them. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:f3f1e28a7d1d2318ba27fd972089f066883f89b0d9ce1fe60c00988211e6e477 from database
# mlflow_tracking on 127.0.0.1 (system identifier 7715507026092693393), collected 2026-12-04
# 17:48:00 UTC. Re-assess before running it if the database changed since.
# Undo: `alembic -c alembic.ini stamp --purge 867495a8f9d4` puts back what alembic_version held.
# Run: bash fix/option-3.sh
# From: the application's folder (where alembic.ini is): copy fix/ there, or give its path
set -euo pipefail
alembic -c alembic.ini stamp --purge de4033877273
