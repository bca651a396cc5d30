"""The incident matrix in the test suite: a subset of its cells (every shape and every evidence
condition at least once, split between the two server versions), each planted on a copy of the
real-app corpus, assessed by `reportgen assess` as a responder runs it, its recommended fix run
as printed, and scored against the planted truth (tests/incidents/). A wrong cell fails the
suite; `python3 tasks.py truth` runs every cell and prints the whole matrix.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reportgen.pgserver import available_binaries
from tests.incidents.matrix import COND_BY_NAME, UNREAD, run_cell
from tests.incidents.project import SETTINGS
from tests.incidents.scoring import WRONG
from tests.incidents.shapes import BY_NAME
from tests.incidents.world import ACTIVITY, World

pytestmark = [pytest.mark.slow, pytest.mark.matrix]
VERSIONS = sorted({b.major for b in available_binaries()})
NEWEST, OLDEST = VERSIONS[-1], VERSIONS[0]

#: (shape, condition, server): each shape and each condition at least once.
CELLS = [
    ("records_deleted_data", "plain", NEWEST),  # the CMS: data migrations, fix run by Django
    ("records_deleted", "static", NEWEST),
    ("dropped_and_cleared", "plain", NEWEST),
    ("dropped_and_cleared", "reset", OLDEST),
    ("tables_dropped", "log_ddl", NEWEST),
    ("truncated", "reader", OLDEST),
    ("rows_deleted", "baseline", NEWEST),
    ("column_dropped", "around_tl", OLDEST),
    ("fks_dropped", "plain", OLDEST),
    ("index_dropped", "plain", NEWEST),
    ("views_dropped", "baseline", OLDEST),
    ("pending", "plain", NEWEST),
    ("faked", "around", NEWEST),
    ("nonatomic_half", "baseline", NEWEST),
    ("churn", "baseline", NEWEST),
    ("churn", "plain", OLDEST),
    ("script_blind", "log_all", NEWEST),
    ("script_wrong_db", "log_all", OLDEST),
    ("clean", "restricted", OLDEST),
    ("records_deleted", "restart", NEWEST),  # last: a crash restart of the test server
]


@pytest.fixture(scope="module")
def static_root(corpus: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.project.app_files(tmp_path_factory.mktemp("matrix-static"),
                                    leave_out=UNREAD)


@pytest.mark.parametrize(("shape", "condition", "version"), CELLS,
                         ids=[f"{s}-{c}" for s, c, _ in CELLS])
def test_no_cell_is_wrong(corpus, corpus_codebase, static_root, shape, condition, version):
    if corpus.server.binaries.major != version:
        pytest.skip(f"this cell runs on PostgreSQL {version} (each cell once: suite time)")
    cell = run_cell(corpus, BY_NAME[shape], COND_BY_NAME[condition], corpus_codebase,
                    static_root)
    assert cell.score.verdict != WRONG, "\n".join(cell.score.notes)


def test_rehearse_records_deleted(corpus: World, tmp_path: Path) -> None:
    """The records_deleted shape on the real-app corpus (Django mode): `reportgen rehearse`
    runs the re-record file as delivered on a scratch copy and Django's migrate --plan
    confirms the prediction; the file edited (one record left out) is withdrawn, the record
    Django still plans named; production is only read."""
    import json

    from tests.helpers import database_checksum, rehearse

    if corpus.server.binaries.major != OLDEST:
        pytest.skip(f"runs on PostgreSQL {OLDEST} (once: suite time)")
    db = corpus.clone(corpus.template)
    try:
        BY_NAME["records_deleted"].plant(corpus, db)
        env = corpus.project.env(corpus.server, db)
        report = tmp_path / "report"
        dsn = corpus.dsn(db)
        res = subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                              "--project", str(corpus.project.root), "--django-settings",
                              SETTINGS, "--out", str(report), "--format", "md"],
                             capture_output=True, text=True, env=env, cwd=corpus.project.root,
                             timeout=600)
        assert res.returncode in (0, 1), res.stderr[-3000:]
        a = json.loads((report / "assessment.json").read_text("utf-8"))
        fix = next(o for o in a["recovery_options"] if o["recommended"])
        assert fix["id"] == "refake_verified"
        before = database_checksum(dsn)
        args = (report, dsn, corpus.project.root, "--django-settings", SETTINGS)
        res = rehearse(*args, env=env, cwd=corpus.project.root)
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        a = json.loads((report / "assessment.json").read_text("utf-8"))
        opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
        assert opt["rehearsal"]["outcome"] == "confirmed" and opt["recommended"]
        assert database_checksum(dsn) == before

        py = report / next(f["name"] for f in opt["files"] if f["name"].endswith(".py"))
        lines = py.read_text("utf-8").splitlines(keepends=True)
        left_out = [ln for ln in lines if ln.startswith('("knox", ')][-1]  # none after it
        py.write_text("".join(ln for ln in lines if ln != left_out), "utf-8")
        res = rehearse(*args, env=env, cwd=corpus.project.root)
        assert res.returncode == 1, res.stdout + res.stderr[-3000:]
        a = json.loads((report / "assessment.json").read_text("utf-8"))
        opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
        r = opt["rehearsal"]
        name = left_out.split('"')[3]
        assert r["outcome"] == "differed" and f"knox.{name}" in r["why"], r["why"]
        assert not opt["recommended"] and database_checksum(dsn) == before
    finally:
        corpus.drop(db)


REPAIR_CELLS = [("rows_deleted", "repair_rows_columns", NEWEST),
                ("tables_dropped", "selective_repair", OLDEST)]


@pytest.mark.parametrize(("shape", "option", "version"), REPAIR_CELLS,
                         ids=[s for s, _, _ in REPAIR_CELLS])
def test_rehearse_data_repair(corpus: World, tmp_path: Path, shape: str, option: str,
                              version: int) -> None:
    """Rows deleted (the repair by primary key) and tables dropped (the tables copied back),
    with a baseline: `reportgen rehearse --restored-dsn` runs the repair as delivered on a
    scratch copy (production's rows of the repaired tables and of the tables they reference,
    the restored copy only read) and confirms each table holds the rows the repair promises;
    the repair edited to leave one table out is withdrawn, the table named; production and
    the restored copy are only read."""
    import json

    from tests.helpers import database_checksum, rehearse

    if corpus.server.binaries.major != version:
        pytest.skip(f"runs on PostgreSQL {version} (once: suite time)")
    db = corpus.clone(corpus.template)
    restored = ""
    try:
        corpus.execute(db, ACTIVITY)
        env = corpus.project.env(corpus.server, db)
        dsn = corpus.dsn(db)
        store = tmp_path / "store"
        snap = subprocess.run([sys.executable, "-m", "reportgen", "snapshot", "--dsn", dsn,
                               "--store", str(store), "-q"], capture_output=True, text=True,
                              env=env, timeout=600)
        assert snap.returncode == 0, snap.stderr[-2000:]
        restored = corpus.clone(db, prefix="r")
        time.sleep(1.1)  # the incident starts at a later second than the snapshot
        start = datetime.now(UTC)
        BY_NAME[shape].plant(corpus, db)
        report = tmp_path / "report"
        res = subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                              "--project", str(corpus.project.root), "--django-settings",
                              SETTINGS, "--baseline", "auto", "--baseline-store", str(store),
                              "--incident-start", start.isoformat(), "--exact-counts", "--out",
                              str(report), "--format", "md"],
                             capture_output=True, text=True, env=env, cwd=corpus.project.root,
                             timeout=600)
        assert res.returncode in (0, 1), res.stderr[-3000:]
        a = json.loads((report / "assessment.json").read_text("utf-8"))
        number = next(i for i, o in enumerate(a["recovery_options"], 1) if o["id"] == option)
        fix = a["recovery_options"][number - 1]
        predicted = {(p["schema_name"], p["name"]): p["rows"] for p in fix["predicted_rows"]}
        assert set(predicted.values()) & {"whole", "missing_keys"}, predicted
        before, before_restored = database_checksum(dsn), database_checksum(corpus.dsn(restored))
        args = (report, dsn, corpus.project.root, "--option", str(number), "--restored-dsn",
                corpus.dsn(restored))
        res = rehearse(*args, env=env, cwd=corpus.project.root)
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        transcript = json.loads((report / "rehearsal.json").read_text("utf-8"))
        assert transcript["outcome"] == "confirmed", transcript["why"]
        assert {(c["schema"], c["name"]) for c in transcript["counts"]} == set(predicted)
        assert all(c["after"] == c["expected"] is not None for c in transcript["counts"])
        assert database_checksum(dsn) == before
        assert database_checksum(corpus.dsn(restored)) == before_restored

        # The repair edited: its first repaired table left out. Withdrawn, the table named.
        first = next(k for k, v in predicted.items() if v != "same")
        if option == "repair_rows_columns":
            sql = report / "fix" / "repair.sql"
            text = sql.read_text("utf-8")
            at = text.index(f'INSERT INTO "{first[0]}"."{first[1]}"')
            sql.write_text(text[:at] + text[text.index(";", at) + 1:], "utf-8")
        else:
            sh = report / next(f["name"] for f in fix["files"] if f["name"].endswith(".sh"))
            sh.write_text(sh.read_text("utf-8").replace(
                f"-t '\"{first[0]}\".\"{first[1]}\"' ", "", 1), "utf-8")
        res = rehearse(*args, env=env, cwd=corpus.project.root)
        assert res.returncode == 1, res.stdout + res.stderr[-3000:]
        r = next(o for o in json.loads((report / "assessment.json").read_text("utf-8"))[
            "recovery_options"] if o["id"] == option)["rehearsal"]
        assert r["outcome"] == "differed" and f"{first[0]}.{first[1]} has" in r["why"], r["why"]
        assert database_checksum(dsn) == before
    finally:
        corpus.drop(*(n for n in (db, restored) if n))
