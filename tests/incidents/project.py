"""The real-app project the corpus tests and the incident matrix run on.

Django's own ``startproject`` with a settings overlay (OVERLAY) installing third-party apps from
PyPI: django-oscar (all its apps), django-simple-history, django-reversion,
djangorestframework's authtoken, django-celery-results, django-constance, django-rest-knox,
django-taggit, django-guardian, and two content-management systems whose histories are full of
data migrations with long chains after them: Wagtail (RunPython and RunSQL in 38 of its ~300
migrations) and django CMS (15 of 48). Nothing of the apps was written here; Django migrates
them into the test server itself (about 440 migrations, 38 apps).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from reportgen.pgserver import LocalServer
from tests.helpers import parse_showmigrations, startproject

OVERLAY = """import os

from oscar.defaults import *  # noqa: F403

from .settings import *  # noqa: F403

DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["T_DB"],
    "USER": "postgres", "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1",
    "PORT": os.environ["T_PORT"]}}
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.flatpages",
    "oscar.config.Shop",
    "oscar.apps.analytics.apps.AnalyticsConfig", "oscar.apps.checkout.apps.CheckoutConfig",
    "oscar.apps.address.apps.AddressConfig", "oscar.apps.shipping.apps.ShippingConfig",
    "oscar.apps.catalogue.apps.CatalogueConfig",
    "oscar.apps.catalogue.reviews.apps.CatalogueReviewsConfig",
    "oscar.apps.communication.apps.CommunicationConfig", "oscar.apps.partner.apps.PartnerConfig",
    "oscar.apps.basket.apps.BasketConfig", "oscar.apps.payment.apps.PaymentConfig",
    "oscar.apps.offer.apps.OfferConfig", "oscar.apps.order.apps.OrderConfig",
    "oscar.apps.customer.apps.CustomerConfig", "oscar.apps.search.apps.SearchConfig",
    "oscar.apps.voucher.apps.VoucherConfig", "oscar.apps.wishlists.apps.WishlistsConfig",
    "oscar.apps.dashboard.apps.DashboardConfig",
    "oscar.apps.dashboard.reports.apps.ReportsDashboardConfig",
    "oscar.apps.dashboard.users.apps.UsersDashboardConfig",
    "oscar.apps.dashboard.orders.apps.OrdersDashboardConfig",
    "oscar.apps.dashboard.catalogue.apps.CatalogueDashboardConfig",
    "oscar.apps.dashboard.offers.apps.OffersDashboardConfig",
    "oscar.apps.dashboard.partners.apps.PartnersDashboardConfig",
    "oscar.apps.dashboard.pages.apps.PagesDashboardConfig",
    "oscar.apps.dashboard.ranges.apps.RangesDashboardConfig",
    "oscar.apps.dashboard.reviews.apps.ReviewsDashboardConfig",
    "oscar.apps.dashboard.vouchers.apps.VouchersDashboardConfig",
    "oscar.apps.dashboard.communications.apps.CommunicationsDashboardConfig",
    "oscar.apps.dashboard.shipping.apps.ShippingDashboardConfig",
    "widget_tweaks", "haystack", "treebeard", "django_tables2",
    "simple_history", "reversion", "rest_framework", "rest_framework.authtoken", "knox",
    "django_celery_results", "constance", "taggit", "guardian",
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.embeds", "wagtail.sites",
    "wagtail.users", "wagtail.snippets", "wagtail.documents", "wagtail.images",
    "wagtail.search", "wagtail.admin", "wagtail", "modelcluster",
    "cms", "menus", "sekizai",
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend",
                           "guardian.backends.ObjectPermissionBackend"]
CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
CONSTANCE_CONFIG = {"THE_ANSWER": (42, "Answer to the Ultimate Question")}
WAGTAIL_SITE_NAME = "corpus"
WAGTAILADMIN_BASE_URL = "http://localhost"
CMS_CONFIRM_VERSION4 = True
CMS_TEMPLATES = [("base.html", "Base")]
LANGUAGES = [("en", "English")]
SILENCED_SYSTEM_CHECKS = ["treebeard.E001"]
"""
NAME = "corpus"
SETTINGS = f"{NAME}.test_settings"
#: Each unit: the app labels one PyPI package installs (with migrations).
UNITS = {
    "oscar": ["address", "analytics", "basket", "catalogue", "communication", "customer",
              "offer", "order", "partner", "payment", "reviews", "shipping", "voucher",
              "wishlists"],
    "reversion": ["reversion"], "authtoken": ["authtoken"],
    "django_celery_results": ["django_celery_results"], "constance": ["constance"],
    "knox": ["knox"], "taggit": ["taggit"], "guardian": ["guardian"],
    "wagtail": ["wagtailcore", "wagtailadmin", "wagtaildocs", "wagtailembeds", "wagtailforms",
                "wagtailimages", "wagtailredirects", "wagtailsearch", "wagtailusers"],
    "cms": ["cms", "menus"],
}
_MIGRATION = re.compile(r"\s*(\w+)\.(\d{4}\w*)\s*")


@dataclass(frozen=True)
class Project:
    """The project's folder, and Django's own commands run in it against a database."""

    root: Path

    def env(self, server: LocalServer, dbname: str) -> dict[str, str]:
        return {**os.environ, "T_DB": dbname, "T_PW": server.password,
                "T_PORT": str(server.port), "DJANGO_SETTINGS_MODULE": SETTINGS,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def manage(self, server: LocalServer, dbname: str, *args: str, check: bool = True,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "manage.py", *args], cwd=self.root,
                             env=self.env(server, dbname), capture_output=True, text=True,
                             timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {res.returncode}: "
                                 f"{res.stderr[-3000:]}")
        return res

    def shell(self, server: LocalServer, dbname: str, command: str,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A command as a responder pastes it into a shell, run in the project's folder."""
        return subprocess.run(["sh", "-c", command], cwd=self.root,
                              env={**self.env(server, dbname), **(extra_env or {})},
                              capture_output=True, text=True, timeout=600)

    def showmigrations(self, server: LocalServer, dbname: str) -> dict[tuple[str, str], bool]:
        """Django's own view: {(app, migration): applied}."""
        out = self.manage(server, dbname, "showmigrations", "--list").stdout
        return parse_showmigrations(out)

    def plan(self, server: LocalServer, dbname: str) -> subprocess.CompletedProcess[str]:
        return self.manage(server, dbname, "migrate", "--plan", check=False)

    @staticmethod
    def planned(stdout: str) -> list[str]:
        """The migrations ``migrate --plan`` lists, in its order."""
        return [f"{m.group(1)}.{m.group(2)}" for line in stdout.splitlines()
                if (m := _MIGRATION.fullmatch(line))]

    def app_paths(self) -> dict[str, Path]:
        """Each installed app's folder, as Django finds it."""
        code = ("import json; from django.apps import apps; print(json.dumps({a.label: a.path "
                "for a in apps.get_app_configs()}))")
        res = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=self.root,
                             env={**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS,
                                  "T_DB": "x", "T_PW": "x", "T_PORT": "1"},
                             capture_output=True, text=True, check=True)
        found = json.loads(res.stdout.strip().splitlines()[-1])
        return {label: Path(path) for label, path in found.items()}

    def app_files(self, dest: Path, leave_out: tuple[str, ...] = ()) -> Path:
        """The installed apps' own migration packages (with their models.py/apps.py), copied
        out of site-packages as Django finds them: what the static scan is pointed at.
        ``leave_out``: app labels not copied (apps the scan does not read)."""
        for label, src in self.app_paths().items():
            if label in leave_out or not (src / "migrations").is_dir():
                continue
            shutil.copytree(src / "migrations", dest / label / "migrations",
                            ignore=shutil.ignore_patterns("__pycache__"))
            for name in ("models.py", "apps.py"):
                if (src / name).is_file():
                    shutil.copy(src / name, dest / label / name)
        return dest


def make_project(parent: Path) -> Project:
    return Project(startproject(parent, NAME, OVERLAY))


def migrate_template(server: LocalServer, project: Project, name: str) -> str:
    """A database migrated by Django (``migrate``), to be copied per case."""
    server.psql(f"CREATE DATABASE {name}")
    project.manage(server, name, "migrate", "--no-input")
    return name
