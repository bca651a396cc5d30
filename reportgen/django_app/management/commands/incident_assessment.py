"""``python manage.py incident_assessment --out DIR``: reportgen assess, from inside a project.

The connection parameters come from ``DATABASES[--database]``; Django's own connection is
never opened: reportgen's read-only snapshot is the only session that talks to the database.
The expected state comes from Django's MigrationLoader (from disk), in a subprocess like
``reportgen collect --django-settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg.conninfo import make_conninfo

from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource
from reportgen.errors import ReportgenError
from reportgen.outputs import assess_outputs
from reportgen.render.view import RenderOptions
from reportgen.timeline_file import load_timeline


def dsn_from_settings(db: dict[str, Any]) -> str:
    if "postgresql" not in db.get("ENGINE", ""):
        raise CommandError(f"DATABASES engine {db.get('ENGINE')!r} is not PostgreSQL")
    opts = dict(db.get("OPTIONS") or {})
    params = {"host": db.get("HOST") or None, "port": str(db.get("PORT") or "") or None,
              "dbname": db.get("NAME") or None, "user": db.get("USER") or None,
              "password": db.get("PASSWORD") or None}
    for key in ("sslmode", "sslrootcert", "service", "passfile"):
        if key in opts:
            params[key] = str(opts[key])
    return make_conninfo("", **{k: v for k, v in params.items() if v})


class Command(BaseCommand):
    help = "Collect read-only evidence, analyze it and write the incident report (reportgen)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", required=True, help="Output directory.")
        parser.add_argument("--database", default="default", help="DATABASES alias.")
        parser.add_argument("--timeline", help="Responder's timeline CSV.")
        parser.add_argument("--tz", default="UTC", help="Time zone for the report.")
        parser.add_argument("--title", default="Incident assessment")
        parser.add_argument("--format", default="md,pdf", help="md, html, pdf")

    def handle(self, *args: Any, **o: Any) -> None:
        db = settings.DATABASES.get(o["database"])
        if db is None:
            raise CommandError(f"no DATABASES entry {o['database']!r}")
        module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
        project = Path.cwd()
        try:
            bundle = collect_bundle(DsnSource("Django DATABASES", dsn_from_settings(db)),
                                    project=project, django_settings=module)
            events = load_timeline(o["timeline"]) if o["timeline"] else []
            opts = RenderOptions(title=o["title"], tz=o["tz"], commands_used=[
                f"python manage.py incident_assessment --out {o['out']}"])
            written = assess_outputs(bundle, Path(o["out"]), opts, timeline=events,
                                     formats=[f.strip() for f in o["format"].split(",")])
        except ReportgenError as exc:
            raise CommandError(exc.message) from None
        for p in written.paths:
            self.stdout.write(f"wrote {p}")
        self.stdout.write(f"status: {written.assessment.status}")
