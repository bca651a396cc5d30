"""The incident matrix in the test suite: a subset of its cells (every shape and every evidence
condition at least once, split between the two server versions), each planted on a copy of the
real-app corpus, assessed by `reportgen assess` as a responder runs it, its recommended fix run
as printed, and scored against the planted truth (tests/incidents/). A wrong cell fails the
suite; `python3 tasks.py truth` runs every cell and prints the whole matrix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.pgserver import available_binaries
from tests.incidents.matrix import COND_BY_NAME, UNREAD, run_cell
from tests.incidents.project import SETTINGS
from tests.incidents.scoring import WRONG
from tests.incidents.shapes import BY_NAME
from tests.incidents.world import World

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
