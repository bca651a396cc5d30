"""The Alembic sample report (sample_reports/alembic/): an incident on a real Alembic project.

    python -m tests.alembic_sample OUT

mlflow's own revisions (PyPI), migrated by Alembic into a new embedded PostgreSQL; then what
a bad deploy does: a branch's `alembic stamp` puts alembic_version back to the middle of the
history, and its "cleanup" script drops a table the later revisions created. ``reportgen
assess --project`` reads it as a responder would (the framework detected from the project's
alembic.ini). The server is stopped afterwards; the report stays.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from reportgen.pgserver import LocalServer, available_binaries
from tests.alembic_projects import MLFLOW, alembic, make_project, migrate
from tests.test_alembic_incidents import DROPPED

STAMPED_BACK_TO = "867495a8f9d4"  # add_trace_tables: the deploy's branch ends there


def main(out: Path) -> int:
    out = out.resolve()
    work = out.parent / f"{out.name}-work"
    with LocalServer(available_binaries()[-1]) as srv:
        srv.psql("CREATE DATABASE mlflow_tracking")
        dsn = srv.dsn("mlflow_tracking")
        project = make_project(MLFLOW, work, dsn)
        migrate(MLFLOW, project, dsn)
        alembic(project, "stamp", "--purge", STAMPED_BACK_TO)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {DROPPED['mlflow']} CASCADE".encode())
        return subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                               "--project", str(project), "--out", str(out), "--format",
                               "md,html,pdf"], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
