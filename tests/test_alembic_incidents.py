"""The incident matrix's Alembic cells: real projects from PyPI (optuna, mlflow: their own
alembic.ini, env.py and revisions), migrated by Alembic itself, an incident planted, assessed
by ``reportgen assess --project`` as a responder runs it (the framework detected from the
project), the recommended fix file run as delivered, and Alembic asked afterwards: ``alembic
current`` shows what the report predicted, ``alembic upgrade START:head --sql`` lists the
revisions it predicted, a real ``alembic upgrade head`` succeeds, and a second assessment
finds nothing above LOW.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reportgen.pgserver import LocalServer, available_binaries
from tests.alembic_projects import (
    MLFLOW,
    OPTUNA,
    Real,
    alembic,
    current,
    make_project,
    migrate,
    sqlalchemy_url,
    upgrade_runs,
)
from tests.helpers import assess_project, database_checksum, nothing_above_low, rehearse

pytestmark = [pytest.mark.slow, pytest.mark.matrix]
pytest.importorskip("alembic")
VERSIONS = sorted({b.major for b in available_binaries()})
NEWEST, OLDEST = VERSIONS[-1], VERSIONS[0]
_n = itertools.count()


@dataclass(frozen=True)
class Shape:
    name: str
    sql: str | None = None  # planted by SQL
    stamp_back: bool = False  # planted by Alembic: stamp --purge to the middle revision


#: Tables dropped in the table_dropped cells: created by a revision whose effects were
#: read, and named by no later revision whose SQL could not be read, or built on again by a
#: recorded revision after it (optuna's trials: its v3.2.0.a indexes it), so the absence is
#: evidence. optuna's trial_values is named by later revisions that offline mode cannot
#: write, and nothing after them builds on it: its absence is not determined
#: (table_undetermined).
DROPPED = {"optuna": "trials", "mlflow": "webhook_events"}


def shapes(real: Real) -> dict[str, Shape]:
    return {s.name: s for s in (
        Shape("clean"),
        Shape("records_deleted", "DELETE FROM alembic_version"),
        Shape("stamped_back", stamp_back=True),
        Shape("table_dropped", f"DROP TABLE {DROPPED[real.name]} CASCADE"),
        Shape("table_undetermined", "DROP TABLE trial_values CASCADE"),
        Shape("missing_file", "UPDATE alembic_version SET version_num = '0badc0ffee00'"),
    )}


CELLS = [
    (OPTUNA, "clean", OLDEST), (OPTUNA, "records_deleted", NEWEST),
    (OPTUNA, "stamped_back", OLDEST), (OPTUNA, "table_dropped", NEWEST),
    (OPTUNA, "table_undetermined", OLDEST), (OPTUNA, "missing_file", NEWEST),
    (MLFLOW, "clean", NEWEST), (MLFLOW, "records_deleted", OLDEST),
    (MLFLOW, "stamped_back", NEWEST), (MLFLOW, "table_dropped", OLDEST),
    (MLFLOW, "missing_file", OLDEST),
]


@pytest.fixture(scope="session")
def alembic_templates(server: LocalServer, tmp_path_factory: pytest.TempPathFactory
                      ) -> dict[str, str]:
    """Per project, lazily: a template database the project's own revisions built."""
    made: dict[str, str] = {}
    work = tmp_path_factory.mktemp(f"alembic-pg{server.binaries.major}")

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> str:
            real = {OPTUNA.name: OPTUNA, MLFLOW.name: MLFLOW}[name]
            tpl = f"tpl_{name}"
            server.psql(f"CREATE DATABASE {tpl}")
            migrate(real, make_project(real, work / name, server.dsn(tpl)), server.dsn(tpl))
            self[name] = tpl
            return tpl

    return Lazy(made)


def _copy_of(server: LocalServer, tpl: str) -> str:
    """A new database copied from the template (CREATE DATABASE … TEMPLATE): its DSN."""
    db = f"al{next(_n)}"
    server.psql(f"CREATE DATABASE {db} TEMPLATE {tpl}")
    return server.dsn(db)


def _revisions(project: Path) -> list[str]:
    """Alembic's own order of the project's revisions, base first (ScriptDirectory)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(Config(str(project / "alembic.ini")))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _recommended(a: dict[str, Any]) -> dict[str, Any] | None:
    return next((o for o in a["recovery_options"] if o["recommended"]), None)


def _versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))


@pytest.mark.parametrize(("real", "shape", "version"), CELLS,
                         ids=[f"{r.name}-{s}" for r, s, _ in CELLS])
def test_alembic_cell(server: LocalServer, alembic_templates: dict[str, str], tmp_path: Path,
                      real: Real, shape: str, version: int) -> None:
    if server.binaries.major != version:
        pytest.skip(f"this cell runs on PostgreSQL {version} (each cell once: suite time)")
    tpl = alembic_templates[real.name]
    dsn = _copy_of(server, tpl)
    project = make_project(real, tmp_path, dsn)
    order = _revisions(project)
    head = order[-1]
    planted = shapes(real)[shape]
    if planted.sql:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(planted.sql.encode())
    if planted.stamp_back:
        alembic(project, "stamp", "--purge", order[len(order) // 2])
    a = assess_project(dsn, project, tmp_path / "report")
    ids = {f["id"] for f in a["findings"]}
    md = (tmp_path / "report" / "report.md").read_text("utf-8")
    for word in ("django", "manage.py", "`migrate`", "showmigrations", "MigrationRecorder"):
        assert word.lower() not in md.lower(), f"{word!r} in an Alembic report"
    fix = _recommended(a)

    if shape == "clean":
        assert nothing_above_low(a), [
            (f["id"], f["severity"]) for f in a["findings"]]
        assert fix is None and current(project) == [head]
    elif shape in ("records_deleted", "stamped_back"):
        assert "migration.records_missing" in ids
        assert a["data_loss"] != "confirmed" and not ids & {"data.tables_missing",
                                                             "schema.lost_unrecorded"}
        assert fix is not None and fix["id"] == "refake_verified", fix
        _run_stamp(server, tpl, real, tmp_path, project, dsn, fix, order)
        again = assess_project(dsn, project, tmp_path / "after")
        assert nothing_above_low(again), [
            (f["id"], f["severity"]) for f in again["findings"]]
    elif shape == "table_dropped":
        assert "data.tables_missing" in ids and a["data_loss"] in ("suspected", "confirmed")
        missing = next(f for f in a["findings"] if f["id"] == "data.tables_missing")
        assert DROPPED[real.name] in missing["subjects"]
        assert not any(o["id"] == "refake_verified" for o in a["recovery_options"])
        assert current(project) == [head]  # nothing for Alembic to see: the schema went
    elif shape == "table_undetermined":
        assert a["status"].startswith("TABLES NOT DETERMINED"), a["status"]
        assert "schema.absent_unverifiable" in ids and a["data_loss"] == "unknown"
        assert "data.tables_missing" not in ids  # never a confident claim either way
    elif shape == "missing_file":
        assert "migration.revision_file_missing" in ids
        assert "migration.records_missing" not in ids
        assert not any(o["id"] == "refake_verified" for o in a["recovery_options"])
        res = alembic(project, "current", check=False)  # Alembic agrees: it cannot go on
        assert res.returncode != 0 and "0badc0ffee00" in res.stderr


def _run_stamp(server: LocalServer, tpl: str, real: Real, tmp_path: Path, project: Path,
               dsn: str, fix: dict[str, Any], order: list[str]) -> None:
    """The delivered .sh file, run from the project's folder; then Alembic is the judge. The
    .sql file, run on a second copy planted the same way, leaves alembic_version as the
    stamp did."""
    files = {f["name"]: f for f in fix["files"]}
    sh = next(n for n in files if n.endswith(".sh"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    res = subprocess.run(["bash", str(tmp_path / "report" / sh)], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    outcome = " ".join(fix["outcome"])
    stamped = current(project)
    assert f"`alembic current`: {', '.join(stamped)}" in outcome, (stamped, outcome)
    assert stamped == _versions(dsn)
    runs = [] if "nothing to run" in outcome else \
        outcome.split("`alembic upgrade head` runs: ", 1)[1].split(".", 1)[0].split(", ")
    (start,) = stamped
    assert upgrade_runs(project, start) == runs
    alembic(project, "upgrade", "head")  # a real upgrade: nothing it runs fails
    assert current(project) == [order[-1]]

    sql = next((n for n in files if n.endswith(".sql")), None)
    assert sql is not None
    twin = _copy_of(server, tpl)
    with psycopg.connect(twin, autocommit=True) as conn:
        conn.execute(b"DELETE FROM alembic_version")
    res = subprocess.run([str(server.binaries.bindir / "psql"), "-X", "-q", "-d",
                          twin, "-f", str(tmp_path / "report" / sql)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert _versions(twin) == stamped


def test_rehearse_alembic_stamp(server: LocalServer, alembic_templates: dict[str, str],
                                tmp_path: Path) -> None:
    """optuna's records deleted: `reportgen rehearse` runs the stamp file as delivered on a
    scratch copy and Alembic (current, upgrade --sql) confirms the prediction; the file
    edited to stamp one revision lower is withdrawn, Alembic's view named; production is
    only read."""
    if server.binaries.major != NEWEST:
        pytest.skip(f"runs on PostgreSQL {NEWEST} (once: suite time)")
    tpl = alembic_templates[OPTUNA.name]
    dsn = _copy_of(server, tpl)
    project = make_project(OPTUNA, tmp_path, dsn)
    order = _revisions(project)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(b"DELETE FROM alembic_version")
    report = tmp_path / "report"
    a = assess_project(dsn, project, report)
    fix = _recommended(a)
    assert fix is not None and fix["id"] == "refake_verified"
    assert fix["predicted_heads"] == [order[-1]] and fix["predicted_unapplied"] == []
    before = database_checksum(dsn)

    res = rehearse(report, dsn, project)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "rehearsal: confirmed" in res.stdout, res.stdout
    a = json.loads((report / "assessment.json").read_text("utf-8"))
    opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
    assert opt["rehearsal"]["outcome"] == "confirmed" and opt["recommended"]
    steps = json.loads((report / "rehearsal.json").read_text("utf-8"))["steps"]
    asked = [s["command"] for s in steps if s["what"].startswith("ask Alembic")]
    assert asked == ["alembic -c alembic.ini current",
                     f"alembic -c alembic.ini upgrade {order[-1]}:head --sql"]
    assert database_checksum(dsn) == before  # alembic_version still empty in production

    sh = report / next(f["name"] for f in opt["files"] if f["name"].endswith(".sh"))
    sh.write_text(sh.read_text("utf-8").replace(f"--purge {order[-1]}", f"--purge {order[-2]}"),
                  "utf-8")
    res = rehearse(report, dsn, project)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    a = json.loads((report / "assessment.json").read_text("utf-8"))
    opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
    r = opt["rehearsal"]
    assert r["outcome"] == "differed" and not r["file_as_reported"] and not opt["recommended"]
    assert f"`alembic current` shows {order[-2]}" in r["why"] and order[-1] in r["why"], r["why"]
    assert database_checksum(dsn) == before


def test_rehearse_alembic_refuses_a_project_it_cannot_point_at_the_copy(
        server: LocalServer, alembic_templates: dict[str, str], tmp_path: Path) -> None:
    """An env.py that takes its URL from its own variable (not alembic.ini, not DATABASE_URL)
    would stamp production: the probe sees Alembic read another database and nothing runs."""
    if server.binaries.major != OLDEST:
        pytest.skip(f"runs on PostgreSQL {OLDEST} (once: suite time)")
    tpl = alembic_templates[OPTUNA.name]
    dsn = _copy_of(server, tpl)
    scripts = tmp_path / "scripts"
    shutil.copytree(OPTUNA.root / OPTUNA.scripts, scripts)
    env_py = scripts / "env.py"
    env_py.write_text(env_py.read_text("utf-8").replace(
        'config.get_section(config.config_ini_section)',
        '{**config.get_section(config.config_ini_section), '
        '"sqlalchemy.url": __import__("os").environ["APP_DB_URL"]}'), "utf-8")
    project = make_project(OPTUNA, tmp_path, dsn)
    ini = project / "alembic.ini"
    ini.write_text(re.sub(r"(?m)^script_location\s*=.*$", f"script_location = {scripts}",
                          ini.read_text("utf-8")), "utf-8")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(b"DELETE FROM alembic_version")
    report = tmp_path / "report"
    a = assess_project(dsn, project, report)
    assert (_recommended(a) or {}).get("id") == "refake_verified"
    before = database_checksum(dsn)
    env = {**os.environ, "APP_DB_URL": sqlalchemy_url(dsn)}
    res = rehearse(report, dsn, project, env=env)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    r = next(o for o in json.loads((report / "assessment.json").read_text("utf-8"))[
        "recovery_options"] if o["id"] == "refake_verified")["rehearsal"]
    assert r["outcome"] == "failed" and "probe" in r["why"], r["why"]
    assert not any(s["what"].startswith("run ") for s in r["steps"])
    assert database_checksum(dsn) == before  # nothing reached production
