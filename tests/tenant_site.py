"""A django-tenants site (from PyPI) on a test server: SHARED_APPS in public, and taggit and
knox (third-party apps with their own migrations) as TENANT_APPS, every schema migrated by
django-tenants' own ``migrate_schemas``. Django is the judge: ``migrate_schemas --schema=S
--check`` exits 0 only when Django plans nothing for that schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reportgen.pgserver import LocalServer
from tests.conftest import Database
from tests.helpers import parse_showmigrations, startproject

#: The settings overlay; {tenant_apps} is filled in (a list of app names).
OVERLAY = """import os

from .settings import *  # noqa: F403

DATABASES = {{"default": {{
    "ENGINE": "django_tenants.postgresql_backend", "NAME": os.environ["T_DB"],
    "USER": "postgres", "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1",
    "PORT": os.environ["T_PORT"]}}}}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes",
               "django.contrib.auth", "django.contrib.sessions", "django.contrib.admin",
               "django.contrib.messages", "django.contrib.staticfiles"]
TENANT_APPS = {tenant_apps!r}
INSTALLED_APPS = SHARED_APPS + [a for a in TENANT_APPS if a not in SHARED_APPS]
TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
"""
MODELS = """from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    name = models.CharField(max_length=100)
    auto_create_schema = False


class Domain(DomainMixin):
    pass
"""
SETTINGS = "tenantsite.test_settings"
TENANT_APPS = ["django.contrib.contenttypes", "taggit", "knox"]


class TenantSite:
    """``tenant_apps``: TENANT_APPS; ``apps``: apps of the project's own to write (label →
    models.py), besides the tenant model's ``customers``."""

    def __init__(self, server: LocalServer, parent: Path, dbname: str,
                 tenant_apps: list[str] | None = None, apps: dict[str, str] | None = None
                 ) -> None:
        self.server, self.dbname = server, dbname
        self.root = startproject(parent, "tenantsite",
                                 OVERLAY.format(tenant_apps=tenant_apps or TENANT_APPS))
        self.apps = ["customers", *(apps or {})]
        for label, models in {"customers": MODELS, **(apps or {})}.items():
            app = self.root / label
            (app / "migrations").mkdir(parents=True)
            (app / "__init__.py").write_text("")
            (app / "migrations" / "__init__.py").write_text("")
            (app / "models.py").write_text(models)
        self.db = Database(server, dbname)

    def env(self, dbname: str | None = None) -> dict[str, str]:
        # `python` in a printed command or a fix file is this interpreter (its venv first).
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        return {**os.environ, "PATH": path, "T_DB": dbname or self.dbname,
                "T_PW": self.server.password,
                "T_PORT": str(self.server.port), "DJANGO_SETTINGS_MODULE": SETTINGS}

    def manage(self, *args: str, dbname: str | None = None, check: bool = True
               ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "manage.py", *args], cwd=self.root,
                             env=self.env(dbname), capture_output=True, text=True, timeout=600)
        assert not check or res.returncode == 0, (args, res.stdout[-1500:], res.stderr[-2000:])
        return res

    def shell(self, command: str, dbname: str | None = None) -> subprocess.CompletedProcess[str]:
        """A command line the report printed, run as a responder runs it (in the project)."""
        return subprocess.run(["bash", "-c", command.replace("python ", f"{sys.executable} ",
                                                             1)],
                              cwd=self.root, env=self.env(dbname), capture_output=True,
                              text=True, timeout=600)

    def build(self, tenants: list[str], *, partial: dict[str, tuple[str, str]] | None = None
              ) -> None:
        """The shared schema, then each tenant (its row, its schema, migrate_schemas for it);
        a tenant in ``partial`` is migrated only up to that (app, migration): a rollout that
        stopped there."""
        self.server.psql(f"CREATE DATABASE {self.dbname}")
        self.manage("makemigrations", *self.apps)
        self.manage("migrate_schemas", "--shared")
        for name in tenants:
            self.manage("shell", "-c", "from customers.models import Client\n"
                        f"Client(schema_name={name!r}, name={name!r}).save()")
            self.db.execute(f"CREATE SCHEMA {name}")
            target = list((partial or {}).get(name, ()))
            self.manage("migrate_schemas", f"--schema={name}", *target)

    def plans_nothing(self, schema: str, dbname: str | None = None) -> bool:
        """Django's own verdict: ``migrate_schemas --schema=S --check`` exits 0."""
        res = self.manage("migrate_schemas", f"--schema={schema}", "--check", dbname=dbname,
                          check=False)
        return res.returncode == 0

    def unapplied(self, schema: str, dbname: str | None = None) -> set[str]:
        """The migrations Django's showmigrations lists as unapplied in ``schema``
        (django-tenants' tenant_command runs it on that schema), as app.name."""
        res = self.manage("tenant_command", "showmigrations", "--list", f"--schema={schema}",
                          dbname=dbname)
        return {f"{a}.{n}" for (a, n), done in parse_showmigrations(res.stdout).items()
                if not done}

    def copy(self, name: str) -> str:
        """A copy of the database to run a fix on (CREATE DATABASE … TEMPLATE)."""
        self.server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.server.psql(f"CREATE DATABASE {name} TEMPLATE {self.dbname}")
        return name

    def drop(self) -> None:
        self.server.psql(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")
