"""Alembic mode's edges: the framework found from the project without a flag and overridden
with --tracker; a project with no or several alembic.ini files; a database Alembic never
versioned; a hostile version string in alembic_version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.analyze import analyze
from reportgen.cli import cli
from reportgen.collect.run import collect_bundle
from tests.alembic_projects import OPTUNA, alembic, make_project
from tests.conftest import on_one_server

pytest.importorskip("optuna")
#: A step of `tasks.py matrix` with the Alembic incident cells (it migrates real revisions:
#: the suite's own ten minutes are spent elsewhere).
pytestmark = pytest.mark.matrix


@pytest.fixture
def optuna_project(request: pytest.FixtureRequest, server, db, tmp_path: Path) -> Path:
    """Each test on one of the two servers (Alembic's reading does not depend on it)."""
    on_one_server(request, server)
    project = make_project(OPTUNA, tmp_path, db.dsn)
    alembic(project, "upgrade", "head")
    return project


def test_the_framework_is_found_from_the_project_and_tracker_overrides_it(db, optuna_project,
                                                                          tmp_path):
    found = collect_bundle(db.source(), project=optuna_project)
    assert found.codebase is not None and found.codebase.framework == "alembic"
    assert len(found.codebase.migrations) == 10 and found.codebase.errors == []
    a = analyze(found)
    assert all(s.recorded for s in a.migrations) and a.data_loss == "unknown"
    assert not [f.id for f in a.findings if f.severity in ("HIGH", "CRITICAL")]

    as_django = collect_bundle(db.source(), project=optuna_project, tracker="django")
    assert as_django.codebase is not None and as_django.codebase.framework == "django"
    assert as_django.codebase.migrations == []

    (tmp_path / "plain").mkdir()
    none = collect_bundle(db.source(), project=tmp_path / "plain", tracker="alembic")
    assert none.codebase is not None and none.codebase.errors == [
        f"no alembic.ini under {tmp_path / 'plain'}"]
    two = tmp_path / "two"
    for sub in ("a", "b"):
        shutil.copytree(optuna_project, two / sub)
    both = collect_bundle(db.source(), project=two)
    assert both.codebase is not None and both.codebase.framework == "alembic"
    assert "2 alembic.ini files" in both.codebase.errors[0]
    assert "a/alembic.ini, b/alembic.ini" in both.codebase.errors[0]


def test_a_database_alembic_never_versioned_is_said_so_in_alembic_s_words(db, optuna_project):
    db.execute("DROP TABLE alembic_version")
    a = analyze(collect_bundle(db.source(), project=optuna_project))
    missing = next(f for f in a.findings if f.id == "migration.tracking_table_missing")
    assert missing.title == "There is no alembic_version table" and missing.severity == "HIGH"
    assert "alembic upgrade head" in missing.explanation


def test_a_hostile_version_string_is_a_missing_file_never_a_stamp(db, optuna_project, tmp_path):
    bad = "x');DROP TABLE studies;--\n\u202e"
    db.execute(f"UPDATE alembic_version SET version_num = {_literal(bad)}")
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["assess", "--dsn", db.dsn, "--project", str(optuna_project),
                                   "--out", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text("utf-8")
    assert "revision(s) no file in the project has" in md
    assert "DROP TABLE studies;--\n" not in md and "\u202e" not in md
    assert not (out / "fix").exists() or not any("stamp" in p.read_text("utf-8")
                                                  for p in (out / "fix").iterdir())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
