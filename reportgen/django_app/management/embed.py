"""The Django management commands are reportgen's own CLI commands, run from inside a project:
every option of ``reportgen assess`` (``incident_assessment``) and ``reportgen collect``
(``incident_evidence``) is offered under the same name, built from the CLI's definitions, so
the two never drift apart. The connection comes from ``DATABASES[--database]`` (never a
``--dsn``), the expected state from the project's settings through Django's MigrationLoader
(in a subprocess), and Django's own connection is never opened: reportgen's read-only
snapshot is the only session that talks to the database.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reportgen.django_app.config import django_dsn, store_setting

#: CLI options the Django commands do not offer: the connection and the settings module come
#: from the project itself (a Django project: no --tracker).
NOT_OFFERED = {"dsn", "dsn_file", "django_settings", "tracker"}


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)
            and p.name not in NOT_OFFERED]


class EmbeddedCommand(BaseCommand):
    """A management command that runs the reportgen CLI command ``cli_name``."""

    cli_name = ""

    def _command(self) -> click.Command:
        from reportgen.cli import cli

        return cli.commands[self.cli_name]

    def _arguments(self) -> list[click.Argument]:
        return [p for p in self._command().params if isinstance(p, click.Argument)]

    def add_arguments(self, parser: Any) -> None:
        for a in self._arguments():  # the command's own positional arguments (rehearse's REPORT)
            parser.add_argument(f"rg_{a.name}", metavar=(a.name or "").upper())
        parser.add_argument("--database", default="default",
                            help="DATABASES alias to collect from (default: default).")
        for p in _options(self._command()):
            kw: dict[str, Any] = {"dest": f"rg_{p.name}", "help": p.help,
                                  "default": None}
            if p.is_flag:
                kw["action"] = "store_true"
                kw["default"] = False
            elif p.multiple:
                kw["action"] = "append"
            else:
                kw["metavar"] = p.metavar or (p.name or "").upper()
            parser.add_argument(*p.opts, **kw)

    def argv(self, o: dict[str, Any]) -> list[str]:
        """The CLI's arguments for these options (click validates and applies defaults)."""
        args = [self.cli_name, *(str(o[f"rg_{a.name}"]) for a in self._arguments())]
        for p in _options(self._command()):
            value = o.get(f"rg_{p.name}")
            flag = max(p.opts, key=len)
            if p.is_flag:
                args += [flag] if value else []
            elif p.multiple:
                for v in value or []:
                    args += [flag, v]
            elif value is not None:
                args += [flag, str(value)]
        store = store_setting()  # the store the migrate hook fills
        if store and "--baseline-store" not in args and any(
                p.name == "baseline_store" for p in self._command().params):
            args += ["--baseline-store", store]
        module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
        if "--project" not in args:
            args += ["--project", str(Path.cwd())]
        return [*args, "--django-settings", module]

    def handle(self, *args: Any, **o: Any) -> None:
        from reportgen.cli import run_embedded

        alias = o["database"]
        db = settings.DATABASES.get(alias)
        if db is None:
            raise CommandError(f"no DATABASES entry {alias!r}")
        code = run_embedded(self.argv(o), django_dsn(alias, db), "python manage.py")
        if code:
            sys.exit(code)
