"""The incident matrix's SQL-file cells: golang-migrate, Prisma and sqitch projects (tests/
sql_projects.py), migrated as the tools' own code migrates (sqitch: by sqitch itself), an
incident planted, assessed by
``reportgen assess --project`` (the framework detected from the project's folders), the
delivered SQL file run with psql, and the tool's bookkeeping asked afterwards: golang-
migrate's version and what ``up`` runs, Prisma's status and what ``deploy`` runs, then a
second assessment. For golang-migrate and Prisma the delivered shell file (the tool's own
command, whose CLI cannot be installed here) is checked with ``bash -n`` and for the command
it runs; sqitch's is run, and ``sqitch status`` is the judge."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reportgen.pgserver import LocalServer, available_binaries
from tests.helpers import assess_project, database_checksum, nothing_above_low, rehearse
from tests.sql_projects import (
    FLYWAY,
    GOLANG,
    PRISMA,
    flyway_info,
    flyway_migrate,
    golang_up,
    golang_version,
    prisma_deploy,
    prisma_status,
    set_version,
    sqitch,
    sqitch_target,
    write_flyway,
    write_golang,
    write_prisma,
    write_sqitch,
)

pytestmark = [pytest.mark.slow, pytest.mark.matrix]
VERSIONS = sorted({b.major for b in available_binaries()})
NEWEST, OLDEST = VERSIONS[-1], VERSIONS[0]
_n = itertools.count()
LAST_GO = int(list(GOLANG)[-1].split("_")[0])
LAST_PRISMA = list(PRISMA)[-1]
FLYWAY_LAST = list(FLYWAY)[-1].split("__")[0][1:]

CELLS = [
    ("golang-migrate", "clean", NEWEST), ("golang-migrate", "records_deleted", OLDEST),
    ("golang-migrate", "dirty_after_success", NEWEST),
    ("golang-migrate", "failed_halfway", OLDEST), ("golang-migrate", "table_dropped", NEWEST),
    ("golang-migrate", "missing_file", OLDEST),
    ("prisma", "clean", OLDEST), ("prisma", "records_deleted", NEWEST),
    ("prisma", "dirty_after_success", OLDEST), ("prisma", "failed_halfway", NEWEST),
    ("prisma", "table_dropped", OLDEST), ("prisma", "edited", NEWEST),
    ("flyway", "clean", OLDEST), ("flyway", "records_deleted", NEWEST),
    ("flyway", "partial_records", OLDEST), ("flyway", "failed_halfway", NEWEST),
    ("flyway", "dirty_after_success", OLDEST), ("flyway", "table_dropped", NEWEST),
    ("flyway", "edited", OLDEST),
    ("sqitch", "clean", NEWEST), ("sqitch", "records_deleted", OLDEST),
    ("sqitch", "table_dropped", NEWEST), ("sqitch", "missing_file", OLDEST),
]


@pytest.mark.parametrize(("tool", "shape", "version"), CELLS,
                         ids=[f"{t}-{s}" for t, s, _ in CELLS])
def test_sql_tracker_cell(server: LocalServer, tmp_path: Path, tool: str, shape: str,
                          version: int) -> None:
    if server.binaries.major != version:
        pytest.skip(f"this cell runs on PostgreSQL {version} (each cell once: suite time)")
    if tool == "sqitch":
        _need_sqitch()
    db = f"sq{next(_n)}"
    server.psql(f"CREATE DATABASE {db}")
    dsn = server.dsn(db)
    write = {"golang-migrate": write_golang, "prisma": write_prisma, "sqitch": write_sqitch,
             "flyway": write_flyway}
    project = write[tool](tmp_path / "app")
    _migrate_and_plant(tool, shape, dsn, project)
    a = assess_project(dsn, project, tmp_path / "report")
    ids = {f["id"] for f in a["findings"]}
    md = (tmp_path / "report" / "report.md").read_text("utf-8").lower()
    for word in ("django", "manage.py", "`migrate --fake`", "showmigrations", "alembic"):
        assert word not in md, f"{word!r} in a {tool} report"
    fix = next((o for o in a["recovery_options"] if o["recommended"]), None)

    if shape in ("clean", "edited"):
        medium = {f["severity"] for f in a["findings"]} - {"INFO", "LOW"} == {"MEDIUM"}
        assert nothing_above_low(a) or (shape == "edited" and medium), [
            (f["id"], f["severity"]) for f in a["findings"]]
        assert fix is None
        if shape == "edited":
            assert "migration.file_edited" in ids
        return
    if shape == "table_dropped":
        assert "data.tables_missing" in ids and a["data_loss"] in ("suspected", "confirmed")
        assert not any(o["id"] == "refake_verified" for o in a["recovery_options"])
        return
    if shape == "missing_file":
        assert "migration.revision_file_missing" in ids
        assert not any(o["id"] == "refake_verified" for o in a["recovery_options"])
        if tool == "sqitch":  # sqitch agrees: it cannot go on
            res = sqitch(project, dsn, "status", check=False)
            assert res.returncode != 0 and "Cannot find this change" in res.stderr
        return
    expected = {"records_deleted": "migration.records_missing",
                "partial_records": "migration.records_missing"}.get(shape,
                                                                    "migration.failed_run")
    assert expected in ids, sorted(ids)
    assert not ids & {"data.tables_missing", "schema.lost_unrecorded"}
    assert fix is not None and fix["id"] == "refake_verified", fix
    _run_fix(server, tool, tmp_path, project, dsn, fix, shape)
    again = assess_project(dsn, project, tmp_path / "after")
    assert nothing_above_low(again), [(f["id"], f["severity"]) for f in again["findings"]]


def _need_sqitch() -> None:
    """sqitch's command line, or a skip (a failure on CI, where the set-up installs it)."""
    if shutil.which("sqitch") is None:
        if os.environ.get("CI"):
            pytest.fail("sqitch is not installed: python3 tasks.py test installs it")
        pytest.skip("sqitch is not installed (python3 tasks.py test installs it as root)")


def _migrate_and_plant(tool: str, shape: str, dsn: str, project: Path) -> None:
    if tool == "flyway":
        last = FLYWAY_LAST
        if shape == "failed_halfway":
            with pytest.raises(RuntimeError):
                flyway_migrate(dsn, project, fail_at=last)
        else:
            flyway_migrate(dsn, project,
                           failed_row_at=last if shape == "dirty_after_success" else None)
        if shape == "edited":
            path = next(p for p in (project / "src/main/resources/db/migration").iterdir()
                        if p.name.startswith(f"V{last}__"))
            path.write_text(path.read_text("utf-8") + "-- reviewed\n", "utf-8")
        sql = {"records_deleted": "DELETE FROM flyway_schema_history",
               "partial_records": "DELETE FROM flyway_schema_history WHERE version IN "
                                  "('3', '4')",
               # a migration run outside a transaction (Flyway's mixed mode) that failed at
               # its first statement: Flyway records the failed run
               "failed_halfway": "INSERT INTO flyway_schema_history VALUES (5, '4', "
                                 "'transfer notes', 'SQL', 'V4__transfer_notes.sql', 0, "
                                 "'app', now(), 3, false)",
               "table_dropped": "DROP TABLE transfers CASCADE"}.get(shape)
    elif tool == "sqitch":
        if shape == "missing_file":  # another branch's change, deployed; not in this plan
            write_sqitch(project, extra="audit")
        sqitch(project, dsn, "deploy")
        write_sqitch(project)
        sql = {"records_deleted": "TRUNCATE sqitch.changes CASCADE",
               "table_dropped": "DROP TABLE flips CASCADE"}.get(shape)
    elif tool == "golang-migrate":
        golang_up(dsn, project, to=None if shape != "failed_halfway" else LAST_GO - 1)
        if shape == "failed_halfway":
            with pytest.raises(RuntimeError):
                golang_up(dsn, project, fail_at=LAST_GO)
        elif shape == "dirty_after_success":
            set_version(dsn, LAST_GO, True)
        elif shape == "missing_file":
            set_version(dsn, LAST_GO + 2, False)
        sql = {"records_deleted": "TRUNCATE schema_migrations",
               "table_dropped": "DROP TABLE payments CASCADE"}.get(shape)
    else:
        if shape == "failed_halfway":
            with pytest.raises(RuntimeError):
                prisma_deploy(dsn, project, fail_at=LAST_PRISMA)
        else:
            prisma_deploy(dsn, project,
                          unfinished=LAST_PRISMA if shape == "dirty_after_success" else None)
        if shape == "edited":
            path = project / "prisma" / "migrations" / LAST_PRISMA / "migration.sql"
            path.write_text(path.read_text("utf-8") + "-- reviewed\n", "utf-8")
        sql = {"records_deleted": 'DELETE FROM "_prisma_migrations"',
               "table_dropped": 'DROP TABLE "Comment" CASCADE'}.get(shape)
    if sql:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.encode())


def _run_fix(server: LocalServer, tool: str, tmp_path: Path, project: Path, dsn: str,
             fix: dict[str, Any], shape: str) -> None:
    """The .sql file run with psql; then the tool's bookkeeping is the judge of the
    outcome the report predicted. The .sh file holds the tool's own command."""
    files = {f["name"]: f for f in fix["files"]}
    sh = next((n for n in files if n.endswith(".sh")), "")
    if tool == "sqitch":  # its own command line is the judge
        res = subprocess.run(["bash", str(tmp_path / "report" / sh)], cwd=project,
                             env={**os.environ, "SQITCH_TARGET": sqitch_target(dsn),
                                  "SQITCH_FULLNAME": "responder",
                                  "SQITCH_EMAIL": "responder@example.org"},
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        outcome = " ".join(fix["outcome"])
        status = sqitch(project, dsn, "status").stdout
        name = status.split("# Name:", 1)[1].split()[0]
        assert f"`sqitch status`: change {name} deployed; up-to-date." in outcome, (
            status, outcome)
        assert "Nothing to deploy (up-to-date)" in status
        assert "`sqitch deploy`: nothing to run." in outcome
        return
    if sh:  # the tool's own command (a failed Flyway run that finished has none: SQL only)
        res = subprocess.run(["bash", "-n", str(tmp_path / "report" / sh)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert {"golang-migrate": "migrate -path db/migrations -database",
                "prisma": "npx prisma migrate resolve",
                "flyway": "flyway -locations=filesystem:src/main/resources/db/migration"
                }[tool] in files[sh]["content"]
    else:
        assert tool == "flyway" and shape in ("dirty_after_success", "partial_records")
    sql = next(n for n in files if n.endswith(".sql"))
    res = subprocess.run([str(server.binaries.bindir / "psql"), "-X", "-q", "-d", dsn, "-f",
                          str(tmp_path / "report" / sql)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    outcome = " ".join(fix["outcome"])
    apply = {"golang-migrate": "`migrate up`", "flyway": "`flyway migrate`",
             "prisma": "`prisma migrate deploy`"}[tool]
    predicted = [] if "nothing to run" in outcome else \
        outcome.split(f"{apply} runs: ", 1)[1].split(".", 1)[0].split(", ")
    if tool == "flyway":
        pending, failed, bad = flyway_info(dsn, project)
        assert failed == [] and bad == [], (failed, bad)
        assert pending == predicted, (pending, outcome)
        assert flyway_migrate(dsn, project) == predicted
        assert flyway_info(dsn, project) == ([], [], [])
    elif tool == "golang-migrate":
        cur = golang_version(dsn)
        assert cur is not None and not cur[1]
        assert f"`migrate version`: {cur[0]}." in outcome, (cur, outcome)
        assert [str(v) for v in golang_up(dsn, project)] == predicted
        assert golang_version(dsn) == (LAST_GO, False)
    else:
        pending, failed = prisma_status(dsn, project)
        assert failed == []
        assert pending == predicted, (pending, outcome)
        assert prisma_deploy(dsn, project) == predicted
        assert prisma_status(dsn, project) == ([], [])
    if shape == "failed_halfway":
        assert predicted, "the run that rolled back must run again"


def test_rehearse_sqitch_log_only(server: LocalServer, tmp_path: Path) -> None:
    """sqitch's registry emptied: `reportgen rehearse` runs the `sqitch deploy --log-only`
    file as delivered with SQITCH_TARGET the scratch copy (the registry's tables copied whole)
    and `sqitch status` confirms the prediction; the file edited to log one change fewer is
    withdrawn, sqitch's view named; production is only read."""
    if server.binaries.major != NEWEST:
        pytest.skip(f"runs on PostgreSQL {NEWEST} (once: suite time)")
    _need_sqitch()
    db = f"sq{next(_n)}"
    server.psql(f"CREATE DATABASE {db}")
    dsn = server.dsn(db)
    project = write_sqitch(tmp_path / "app")
    _migrate_and_plant("sqitch", "records_deleted", dsn, project)
    report = tmp_path / "report"
    a = assess_project(dsn, project, report)
    fix = next(o for o in a["recovery_options"] if o["recommended"])
    assert fix["id"] == "refake_verified" and fix["predicted_heads"] == ["user_email"]
    before = database_checksum(dsn)
    res = rehearse(report, dsn, project)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    r = next(o for o in json.loads((report / "assessment.json").read_text("utf-8"))[
        "recovery_options"] if o["id"] == "refake_verified")["rehearsal"]
    assert r["outcome"] == "confirmed" and "`sqitch status` shows change user_email" in r["why"]
    assert database_checksum(dsn) == before

    sh = report / next(f["name"] for f in fix["files"] if f["name"].endswith(".sh"))
    sh.write_text(sh.read_text("utf-8").replace("--to user_email", "--to flips_nickname_idx"),
                  "utf-8")
    res = rehearse(report, dsn, project)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    r = next(o for o in json.loads((report / "assessment.json").read_text("utf-8"))[
        "recovery_options"] if o["id"] == "refake_verified")["rehearsal"]
    assert r["outcome"] == "differed" and "flips_nickname_idx" in r["why"], r["why"]
    assert "user_email" in r["why"] and database_checksum(dsn) == before
