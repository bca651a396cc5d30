"""Reconciliation against Django itself, on migrations nobody here wrote.

Django's contrib apps, django-taggit and django-guardian are migrated into a real PostgreSQL by
Django (once per server, into a template database), then each scenario breaks a copy: records
deleted, a table dropped, a column dropped, a dependency made dangling. For every database,
reportgen's applied/unapplied lists must equal `manage.py showmigrations`.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from tests.conftest import Database, on_one_server
from tests.helpers import parse_showmigrations
from tests.test_django_project import OVERLAY

pytestmark = pytest.mark.slow
_n = itertools.count()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dj") / "site"
    root.mkdir()
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(root)],
                   check=True, capture_output=True)
    (root / "mysite" / "test_settings.py").write_text(OVERLAY)
    # Settings whose taggit migrations are a copy with one file missing (a dangling dependency).
    import taggit

    copy = root / "taggit_copy"
    shutil.copytree(Path(taggit.__file__).parent / "migrations", copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "0002_auto_20150616_2121.py").unlink()
    (root / "mysite" / "dangling_settings.py").write_text(
        "from .test_settings import *  # noqa: F401,F403\n"
        "MIGRATION_MODULES = {'taggit': 'taggit_copy'}\n")
    return root


def _env(db: Database, settings: str) -> dict[str, str]:
    return {**os.environ, "T_DB": db.name, "T_PW": db.server.password,
            "T_PORT": str(db.server.port), "DJANGO_SETTINGS_MODULE": settings}


def manage(site: Path, db: Database, *args: str, settings: str = "mysite.test_settings",
           check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "manage.py", *args], cwd=site,
                         env=_env(db, settings), capture_output=True, text=True, timeout=300)
    if check:
        assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def template(server, site) -> str:
    name = f"djtpl{next(_n)}"
    server.psql(f"CREATE DATABASE {name}")
    manage(site, Database(server, name), "migrate", "--no-input")
    return name


@pytest.fixture
def migrated(server, template):
    name = f"dj{next(_n)}"
    server.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield Database(server, name)
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def showmigrations(site: Path, db: Database, settings: str = "mysite.test_settings"
                   ) -> dict[tuple[str, str], bool]:
    return parse_showmigrations(
        manage(site, db, "showmigrations", "--list", settings=settings).stdout)


def reportgen_view(site: Path, db: Database, settings: str = "mysite.test_settings"):
    os.environ.update({k: v for k, v in _env(db, settings).items() if k.startswith("T_")})
    b = collect_bundle(db.source(), project=site, django_settings=settings)
    a = analyze(b)
    listed = {(s.app, s.name): s.recorded for s in a.migrations if s.in_code}
    return b, a, listed


def _ids(a):
    return {f.id for f in a.findings}


def test_intact_database_agrees_with_showmigrations(site, migrated):
    b, a, listed = reportgen_view(site, migrated)
    assert b.codebase.method.startswith("Django MigrationLoader")
    assert {"admin", "auth", "contenttypes", "sessions", "taggit", "guardian"} <= {
        m.app for m in b.codebase.migrations}
    assert listed == showmigrations(site, migrated)
    assert all(listed.values())
    assert not {i for i in _ids(a) if i.startswith(("migration.", "schema.", "data.tables"))}


def test_deleted_records(site, migrated):
    migrated.execute("DELETE FROM django_migrations WHERE app = 'taggit'")
    _, a, listed = reportgen_view(site, migrated)
    assert listed == showmigrations(site, migrated)
    taggit = {s.name: s for s in a.migrations if s.app == "taggit"}
    assert taggit and not any(s.recorded for s in taggit.values())
    assert "migration.records_missing" in _ids(a)
    refake = next(o for o in a.recovery_options if o.id == "refake_verified")
    code = shlex.split(refake.commands[0])[-1]
    assert '"taggit"' in code and "record_applied" in code
    for name, s in taggit.items():
        if s.fake != "safe":
            assert f"'{name}'" not in (refake.script or ""), name


def test_dropped_table(site, migrated):
    migrated.execute("DROP TABLE guardian_groupobjectpermission")
    _, a, listed = reportgen_view(site, migrated)
    assert listed == showmigrations(site, migrated)
    lost = next(f for f in a.findings if f.id == "data.tables_missing")
    assert lost.subjects == ["guardian_groupobjectpermission"]
    assert a.data_loss == "suspected" and a.risks["data"] == "CRITICAL"


def test_dropped_column_named_and_never_faked(site, migrated):
    migrated.execute("ALTER TABLE taggit_tag DROP COLUMN slug")
    _, a, listed = reportgen_view(site, migrated)
    assert listed == showmigrations(site, migrated)
    broken = next(f for f in a.findings if f.id == "schema.recorded_but_missing")
    assert "taggit_tag.slug" in broken.subjects
    # the same column gone while the records are gone too: never offered for faking
    migrated.execute("DELETE FROM django_migrations WHERE app = 'taggit'")
    _, a, listed = reportgen_view(site, migrated)
    assert listed == showmigrations(site, migrated)
    creator = next(s for s in a.migrations if s.app == "taggit" and
                   "column taggit_tag.slug" in s.missing)
    assert creator.fake == "unsafe"
    plan = "\n".join(o.script or "" for o in a.recovery_options)
    assert f"'taggit', '{creator.name}'" not in plan
    assert all(f'("taggit", "{creator.name}")' not in c for o in a.recovery_options
               for c in o.commands)


def test_dangling_dependency(site, migrated):
    res = manage(site, migrated, "showmigrations", "--list",
                 settings="mysite.dangling_settings", check=False)
    assert res.returncode != 0 and "NodeNotFoundError" in res.stderr
    b, a, _ = reportgen_view(site, migrated, settings="mysite.dangling_settings")
    assert any("NodeNotFoundError" in e for e in b.codebase.graph_errors)
    ids = _ids(a)
    assert {"migration.graph_error", "migration.dangling_dependency"} <= ids
    dangling = next(f for f in a.findings if f.id == "migration.dangling_dependency")
    assert any("taggit.0002_auto_20150616_2121" in e for e in dangling.evidence)


def test_incident_assessment_management_command(request, site, migrated, tmp_path):
    """Every option of reportgen assess, under the same names, from manage.py; the connection
    from DATABASES; the report's next steps in the manage.py form (no DSN to have at hand).
    On one server version (it renders a PDF: suite time)."""
    on_one_server(request, migrated.server)
    (site / "mysite" / "cmd_settings.py").write_text(
        "from .test_settings import *  # noqa: F401,F403\n"
        "INSTALLED_APPS = [*INSTALLED_APPS, 'reportgen.django_app']\n")
    helped = manage(site, migrated, "incident_assessment", "--help",
                    settings="mysite.cmd_settings").stdout
    for option in ("--baseline", "--exact-counts", "--server-log", "--redact", "--fail-on",
                   "--archive", "--timeline", "--quiet", "--database"):
        assert option in helped, option
    assert "--dsn" not in helped
    base = tmp_path / "before.json"
    manage(site, migrated, "incident_evidence", "--exact-counts", "-o", str(base), "--quiet",
           settings="mysite.cmd_settings")
    migrated.execute("DELETE FROM django_migrations WHERE app = 'guardian'")
    out = tmp_path / "out"
    res = manage(site, migrated, "incident_assessment", "--out", str(out), "--baseline",
                 str(base), "--exact-counts", "--format", "md,html,pdf", "--fail-on", "HIGH",
                 "--archive", str(tmp_path / "incidents"), settings="mysite.cmd_settings",
                 check=False)
    assert res.returncode == 1, res.stderr  # --fail-on HIGH: missing records are HIGH
    assert "MIGRATION RECORDS MISSING" in res.stdout and "archived" in res.stderr
    for name in ("evidence.json", "assessment.json", "report.md", "report.html", "report.pdf",
                 "inventory.csv"):
        assert (out / name).exists(), name
    from reportgen.bundle import load_bundle

    b = load_bundle(out / "evidence.json")
    assert b.target.source == "Django DATABASES['default']"
    assert b.target.dbname == migrated.name and b.inventory.exact_counts is not None
    assert migrated.server.password not in (out / "evidence.json").read_text()
    assert b.codebase.method.startswith("Django MigrationLoader")
    md = (out / "report.md").read_text()
    assert "migration record(s) removed since the baseline" in md
    assert "python manage.py incident_evidence -o before-refake.json" in md
    assert "python manage.py incident_assessment --baseline evidence.json" in md
    assert "reportgen collect --dsn ..." not in md and "reportgen assess --dsn" not in md
    assert "python manage.py incident_assessment --out" in md  # Appendix A: what was run


def test_static_scan_agrees_with_django_loader(site, migrated, tmp_path):
    """The ast scan of the same real migration files reaches the same verdicts as Django."""
    import django.contrib
    import guardian
    import taggit

    migrated.execute("DELETE FROM django_migrations WHERE app IN ('taggit', 'auth');"
                     "ALTER TABLE taggit_tag DROP COLUMN slug")
    sources = {"taggit": Path(taggit.__file__).parent, "guardian": Path(guardian.__file__).parent}
    for label in ("auth", "contenttypes", "admin", "sessions"):
        sources[label] = Path(django.contrib.__file__).parent / label
    for label, src in sources.items():
        shutil.copytree(src / "migrations", tmp_path / "apps" / label / "migrations",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("models.py", "apps.py"):  # what makes the folder an app's
            if (src / name).is_file():
                shutil.copy(src / name, tmp_path / "apps" / label / name)
    static = analyze(collect_bundle(migrated.source(), project=tmp_path / "apps"))
    _, loader, _ = reportgen_view(site, migrated)

    def verdicts(a):
        return {(s.app, s.name): (s.recorded, s.state, s.fake) for s in a.migrations
                if s.in_code}
    assert verdicts(static) == verdicts(loader)


#: Names outside the Basic Multilingual Plane, right-to-left and with combining marks (and a
#: bidi override, printed as an escape): what the system reads back must be these exactly.
WIDE_NAMES = [("taggit", "0099_\U0001f600_emoji"), ("\u05d0\u05e4\u05dc", "0001_\u05e9\u05dd"),
              ("cafe\u0301", "0002_n\u0303o\u0308\U0001d54f"), ("rtl\u202e", "0003_\u202ex")]


def test_printed_recorder_command_and_sql_record_wide_names_exactly(server, site, migrated):
    """The recorder command (run by Django's own manage.py in a real shell) and the
    equivalent SQL (run by psql) write exactly these names: JSON's surrogate pairs would have
    recorded two broken characters for the emoji and stopped half-way."""
    from reportgen.analyze.reconcile import fake_sql, record_command

    def recorded() -> list[tuple[str, str]]:
        with psycopg.connect(migrated.dsn) as conn:
            return conn.execute("SELECT app, name FROM django_migrations WHERE id > %s "
                                "ORDER BY id", [last]).fetchall()

    with psycopg.connect(migrated.dsn) as conn:
        last = conn.execute("SELECT max(id) FROM django_migrations").fetchone()[0]
    env = {**_env(migrated, "mysite.test_settings"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(["sh", "-c", record_command(WIDE_NAMES)], cwd=site, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert recorded() == WIDE_NAMES
    with psycopg.connect(migrated.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM django_migrations WHERE id > %s", [last])
    server.psql(fake_sql(WIDE_NAMES, "public"), migrated.name)
    assert recorded() == WIDE_NAMES
