"""``python manage.py incident_assessment --out DIR [options]``: ``reportgen assess`` from
inside a project, with every one of its options (see ``reportgen assess --help``); the
connection comes from ``DATABASES[--database]``."""

from __future__ import annotations

from reportgen.django_app.management.embed import EmbeddedCommand


class Command(EmbeddedCommand):
    help = ("Collect read-only evidence, analyze it and write the incident report: reportgen "
            "assess, with the connection from DATABASES.")
    cli_name = "assess"
