"""Schema-per-tenant databases as django-tenants (from PyPI) builds them: every schema has its
own django_migrations, and public's records every migration, the tenant apps' included,
although their tables live only in the tenant schemas. Until tenants are reconciled one by
one, such a database is never called MISSING from public's records: the tenant apps are NOT
DETERMINED, and nothing Django-specific calls data lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from tests.conftest import Database
from tests.helpers import startproject

pytestmark = pytest.mark.slow

OVERLAY = """import os

from .settings import *  # noqa: F403

DATABASES = {"default": {
    "ENGINE": "django_tenants.postgresql_backend", "NAME": os.environ["T_DB"],
    "USER": "postgres", "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1",
    "PORT": os.environ["T_PORT"]}}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes",
               "django.contrib.auth", "django.contrib.sessions", "django.contrib.admin",
               "django.contrib.messages", "django.contrib.staticfiles"]
TENANT_APPS = ["django.contrib.contenttypes", "taggit", "knox"]
INSTALLED_APPS = SHARED_APPS + [a for a in TENANT_APPS if a not in SHARED_APPS]
TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
"""
MODELS = """from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    name = models.CharField(max_length=100)
    auto_create_schema = True


class Domain(DomainMixin):
    pass
"""
SETTINGS = "tenantsite.test_settings"


def test_a_clean_schema_per_tenant_database_is_not_missing_anything(server, tmp_path):
    site = startproject(tmp_path, "tenantsite", OVERLAY)
    app = site / "customers"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS)
    server.psql("CREATE DATABASE tenants")
    db = Database(server, "tenants")
    env = {**os.environ, "T_DB": "tenants", "T_PW": server.password,
           "T_PORT": str(server.port), "DJANGO_SETTINGS_MODULE": SETTINGS}

    def manage(*args: str) -> None:
        res = subprocess.run([sys.executable, "manage.py", *args], cwd=site, env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]

    try:
        manage("makemigrations", "customers")
        manage("migrate_schemas", "--shared")
        manage("shell", "-c", "from customers.models import Client\n"
               "for name in ('acme', 'globex'):\n"
               "    Client(schema_name=name, name=name).save()")
        assert db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'django_migrations'"
                         ) == 3
        assert db.scalar("SELECT count(*) FROM public.django_migrations WHERE app = 'knox'")
        assert not db.scalar("SELECT to_regclass('public.knox_authtoken') IS NOT NULL")
        os.environ.update({k: v for k, v in env.items() if k.startswith("T_")})
        a = analyze(collect_bundle(db.source(), project=site, django_settings=SETTINGS))
        ids = {f.id for f in a.findings}
        assert "data.tables_missing" not in ids and "schema.recorded_but_missing" not in ids
        assert "TABLES MISSING" not in a.status and "TABLES INTACT" not in a.status
        assert "TENANT APP(S) NOT CHECKED" in a.status, a.status
        assert a.data_loss == "unknown" and a.risks["data"] == "LOW"
    finally:
        server.psql("DROP DATABASE IF EXISTS tenants WITH (FORCE)")

