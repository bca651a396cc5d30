"""``python manage.py incident_evidence -o FILE [options]``: ``reportgen collect`` from inside
a project (an evidence bundle, e.g. a baseline before a change), with every one of its
options; the connection comes from ``DATABASES[--database]``."""

from __future__ import annotations

from reportgen.django_app.management.embed import EmbeddedCommand


class Command(EmbeddedCommand):
    help = ("Collect a read-only evidence bundle (e.g. a baseline before a change): reportgen "
            "collect, with the connection from DATABASES.")
    cli_name = "collect"
