"""``python manage.py incident_rehearse DIR [options]``: ``reportgen rehearse`` from inside a
project, with every one of its options (see ``reportgen rehearse --help``): the fix of the
report in DIR run on a scratch copy of the schema, judged by this project's Django. The
inspected database is ``DATABASES[--database]`` (only read); every alias is pointed at the
scratch copy while the fix runs."""

from __future__ import annotations

from reportgen.django_app.management.embed import EmbeddedCommand


class Command(EmbeddedCommand):
    help = ("Rehearse the report's fix on a scratch copy of the schema and let Django judge "
            "it: reportgen rehearse, the inspected database from DATABASES.")
    cli_name = "rehearse"
