#!/usr/bin/env bash
# reportgen fix for Option 3: Stamp the verified revisions (alembic stamp)
# When it applies: Tables are present and alembic_version is behind them. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:5e71b4850b6fac5b5ce7978e6d9ba841747c5084fa485fb1da51f988c3356776 from database
# mlflow_tracking on 127.0.0.1 (system identifier 7715497607710842110), collected 2026-12-04
# 17:11:29 UTC. Re-assess before running it if the database changed since.
# Undo: `alembic -c alembic.ini stamp --purge 867495a8f9d4` puts back what alembic_version held.
# Run: bash fix/option-3.sh
# From: the application's folder (where alembic.ini is): copy fix/ there, or give its path
set -euo pipefail
alembic -c alembic.ini stamp --purge de4033877273
