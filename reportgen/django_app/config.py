"""What both the management commands and the migrate hook read from a Django project: the
baseline store setting and a database's connection, as reportgen's own session opens it.
Below both (they import it; it imports neither)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import CommandError
from psycopg.conninfo import make_conninfo

from reportgen.analyze.commands import django_source
from reportgen.connection import DsnSource


def setting(name: str, default: Any = None) -> Any:
    from django.conf import settings

    return getattr(settings, name, default)


def store_setting() -> str | None:
    from reportgen.baselines import ENV_STORE

    return setting("REPORTGEN_BASELINE_STORE") or os.environ.get(ENV_STORE) or None


def django_dsn(alias: str, db: dict[str, Any]) -> DsnSource:
    """The connection of ``DATABASES[alias]`` (``db``) as reportgen's own session opens it,
    recorded so that reports give next steps in the manage.py form."""
    return DsnSource(django_source(alias), dsn_from_settings(db))


def dsn_from_settings(db: dict[str, Any]) -> str:
    if "postgresql" not in db.get("ENGINE", ""):
        raise CommandError(f"DATABASES engine {db.get('ENGINE')!r} is not PostgreSQL")
    opts = dict(db.get("OPTIONS") or {})
    params = {"host": db.get("HOST") or None, "port": str(db.get("PORT") or "") or None,
              "dbname": db.get("NAME") or None, "user": db.get("USER") or None,
              "password": db.get("PASSWORD") or None}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "service", "passfile",
                "options", "target_session_attrs"):
        if key in opts:
            params[key] = str(opts[key])
    return make_conninfo("", **{k: v for k, v in params.items() if v})
