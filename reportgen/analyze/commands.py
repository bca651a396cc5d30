"""The reportgen commands a report tells the responder to run next, in the form they have
at hand: ``reportgen ... --dsn ...`` when the evidence was collected with the CLI, and
``python manage.py ...`` when it came from the Django commands (whose connection comes from
``DATABASES``: the responder may not have a DSN at all)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reportgen.bundle import EvidenceBundle
from reportgen.quoting import shell_command

#: Target.source of a bundle collected by the Django commands: "Django DATABASES['alias']".
DJANGO_SOURCE = re.compile(r"^Django DATABASES\['(?P<alias>[^']*)'\]$")


def django_source(alias: str) -> str:
    """The Target.source the Django commands and hook record (DJANGO_SOURCE reads it back)."""
    return f"Django DATABASES['{alias}']"


@dataclass(frozen=True)
class NextCommands:
    django_alias: str | None  # the DATABASES alias when collected through manage.py

    @classmethod
    def of(cls, bundle: EvidenceBundle) -> NextCommands:
        m = DJANGO_SOURCE.match(bundle.target.source)
        return cls(m.group("alias") if m else None)

    @property
    def django(self) -> bool:
        return self.django_alias is not None

    def manage(self, command: str, *args: str) -> str:
        """A manage.py command against the database the evidence came from."""
        return self._manage(command, *args)

    def _manage(self, command: str, *args: str) -> str:
        db = ["--database", self.django_alias] if self.django_alias not in (None, "default") \
            else []
        return shell_command("python", "manage.py", command, *db, *args)

    def collect(self, output: str, *args: str) -> str:
        """Collect a bundle from the database this report is about."""
        if self.django:
            return self._manage("incident_evidence", *args, "-o", output)
        return "reportgen collect --dsn ... " + shell_command(*args, "-o", output)

    def assess(self, *args: str) -> str:
        """Assess the database this report is about again."""
        if self.django:
            return self._manage("incident_assessment", *args)
        return "reportgen assess --dsn ... " + shell_command(*args)
