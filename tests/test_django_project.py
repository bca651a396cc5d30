"""A real Django project, migrated by Django itself, assessed by reportgen.

The project is Django's own `startproject` template with two third-party apps from PyPI
(django-taggit, django-guardian); nothing of it was written for these tests except the
settings overlay that points it at the test server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from tests.helpers import startproject

pytestmark = pytest.mark.slow

OVERLAY = """
from .settings import *  # noqa: F401,F403
import os
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["T_DB"],
    "USER": "postgres", "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1",
    "PORT": os.environ["T_PORT"]}}
INSTALLED_APPS = [*INSTALLED_APPS, "taggit", "guardian"]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend",
                           "guardian.backends.ObjectPermissionBackend"]
"""


def django_project(tmp_path: Path) -> Path:
    return startproject(tmp_path, "mysite", OVERLAY)


def manage(root: Path, db, *args: str) -> str:
    env = {**os.environ, "T_DB": db.name, "T_PW": db.server.password,
           "T_PORT": str(db.server.port), "DJANGO_SETTINGS_MODULE": "mysite.test_settings"}
    res = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_assess_a_django_migrated_database(db, tmp_path):
    root = django_project(tmp_path)
    manage(root, db, "migrate", "--no-input")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", db.dsn,
                          "--project", str(root), "--out", str(out)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (out / "report.pdf").stat().st_size > 0
    b = load_bundle(out / "evidence.json")
    assert b.complete
    pg_class = db.scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT IN "
        "('pg_catalog','information_schema') AND n.nspname !~ '^pg_(toast|temp_)'")
    assert len(b.inventory.relations) == pg_class
    assert {"taggit_tag", "guardian_userobjectpermission", "auth_user"} <= {
        r.name for r in b.inventory.relations}
    recorded = {(r.app, r.name) for r in b.migrations.django.records}
    assert ("taggit", "0001_initial") in recorded and ("guardian", "0001_initial") in recorded
    a = analyze(b)
    ids = {f.id for f in a.findings}
    assert not ids & {"data.tables_missing", "schema.recorded_but_missing",
                      "migration.records_missing", "migration.tracking_table_missing"}
    assert a.data_loss == "unknown"
