"""The demo report's recommended fix, run as printed on the demo database, judged by Django.

The demo incident has an applied migration whose dependency is unrecorded, so Django's
`migrate --fake` refuses to run (InconsistentMigrationHistory). The report recommends
recording the verified migrations with Django's own MigrationRecorder instead; this test runs
that printed command in a real shell, in the demo project with a settings module, and checks
with Django's showmigrations and migrate --plan that exactly what the report predicted holds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource
from reportgen.demo.run import DEMO_DB, plant
from tests.helpers import parse_showmigrations

pytestmark = pytest.mark.slow

SETTINGS = """
import os
SECRET_KEY = "demo-fix-test"
USE_TZ = True
SILENCED_SYSTEM_CHECKS = ["admin.E403", "admin.E406", "admin.E408", "admin.E409", "admin.E410"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.sites",
                  {apps}]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": "{db}", "USER": "postgres",
    "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1", "PORT": os.environ["T_PORT"]}}}}
"""
MANAGE = """import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""


def _django(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def _applied(project: Path, env: dict[str, str]) -> dict[str, bool]:
    res = _django(project, env, "showmigrations", "--list")
    assert res.returncode == 0, res.stderr
    return {f"{a}.{n}": v for (a, n), v in parse_showmigrations(res.stdout).items()}


def test_the_demo_fix_is_accepted_by_django(server, tmp_path):
    project = tmp_path / "demo-project"
    plant(server, project)
    try:
        apps = sorted(p.name for p in (project / "apps").iterdir() if p.is_dir())
        (project / "apps" / "__init__.py").write_text("")
        (project / "demo_settings.py").write_text(SETTINGS.format(
            apps=", ".join(f'"apps.{a}"' for a in apps), db=DEMO_DB))
        (project / "manage.py").write_text(MANAGE)
        # `python` as in the project's own virtualenv: the one running these tests.
        env = {**os.environ, "T_PW": server.password, "T_PORT": str(server.port),
               "PYTHONPATH": str(project),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        before = _applied(project, env)
        # What the report says would happen to `migrate --fake`, Django says too.
        res = _django(project, env, "migrate", "organizations", "0001_initial", "--fake")
        assert res.returncode != 0 and "InconsistentMigrationHistory" in res.stderr

        a = analyze(collect_bundle(DsnSource("--dsn", server.dsn(DEMO_DB)), project=project))
        option = next(o for o in a.recovery_options if o.recommended)
        assert option.id == "refake_verified"
        assert any("InconsistentMigrationHistory" in s for s in option.steps)
        # The fix as delivered: fix/option-1.py, run as the report says, from the project.
        py = next(f for f in option.files if f.name.endswith(".py"))
        (project / py.name).parent.mkdir(exist_ok=True)
        (project / py.name).write_text(py.content)
        res = subprocess.run(["sh", "-c", py.run], cwd=project, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr

        after = _applied(project, env)
        recorded_now = {k for k, v in after.items() if v and not before[k]}
        plan_text = "\n".join(option.script.splitlines()) if option.script else ""
        promised = set(re.findall(r"^\('([^']*)', '([^']*)', pg_catalog.now\(\)\)[,;]$",
                                  plan_text, re.M))
        assert recorded_now == {f"{a}.{n}" for a, n in promised}
        assert len(promised) == int(re.search(r"the (\d+) migration", option.outcome[0])[1])
        assert f"recorded {len(promised)} migration record(s)" in res.stdout

        res = _django(project, env, "migrate", "--plan")
        assert res.returncode == 0, res.stderr
        planned = {ln.strip() for ln in res.stdout.splitlines()
                   if re.fullmatch(r"\s*\w+\.\d{4}\w*", ln)}
        # The demo's project is scanned statically: the prediction speaks for the apps read.
        predicted = re.search(r"`migrate --plan` lists: (.*?)(?: \(for the apps whose "
                              r"migration files were read[^)]*\))?\.$", option.outcome[1])
        assert predicted is not None, option.outcome
        assert planned == set(predicted[1].split(", "))
        assert {k for k, v in after.items() if not v} == planned

        # Undo, as its header says: exactly these records go again.
        (project / py.name).write_text(py.content.replace("UNDO = False", "UNDO = True", 1))
        res = subprocess.run(["sh", "-c", py.run], cwd=project, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert _applied(project, env) == before
        # The SQL file records the same rows, in one transaction.
        sql = next(f for f in option.files if f.name.endswith(".sql"))
        (project / sql.name).write_text(sql.content)
        res = subprocess.run(["sh", "-c", sql.run], cwd=project, capture_output=True, text=True,
                             env={**env, "PGPASSWORD": server.password,
                                  "PRODUCTION_DSN": server.dsn(DEMO_DB, password=""),
                                  "PATH": f"{server.binaries.bindir}:{env['PATH']}"},
                             timeout=300)
        assert res.returncode == 0, res.stderr
        assert _applied(project, env) == after
    finally:
        server.psql(f"DROP DATABASE IF EXISTS {DEMO_DB} WITH (FORCE)")
        server.psql("DROP ROLE IF EXISTS neondb_owner")
