"""`rehearse`: the report's fix run on a scratch copy of the schema, judged by the
framework."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reportgen.errors import EXIT_GATE, EXIT_OK

from .common import EMBEDDING, EPILOG_EXIT, command_line, quiet_option, say
from .options import render_options, render_opts


@click.command("rehearse", epilog=EPILOG_EXIT)
@click.argument("report", type=click.Path(exists=True, file_okay=False))
@click.option("--dsn", metavar="DSN", help="The inspected database (read-only; default: "
              "DATABASE_URL, then the libpq environment).")
@click.option("--dsn-file", metavar="FILE", help="Read that DSN from FILE's first line.")
@click.option("--project", type=click.Path(exists=True, file_okay=False), required=True,
              help="The application's folder (where manage.py or alembic.ini is).")
@click.option("--django-settings", metavar="MODULE",
              help="Django: the project's settings module; its DATABASES alias is pointed at "
              "the scratch database for the rehearsal.")
@click.option("--option", "number", type=click.IntRange(1), help="The option to rehearse, "
              "as the report numbers them (default: the recommended one, if reportgen "
              "rehearses it, else the first it rehearses).")
@click.option("--scratch-dsn", metavar="DSN", help="A server to rehearse on (a new database "
              "is created there and dropped afterwards). Default: an embedded PostgreSQL in a "
              "temporary directory. Never the inspected database: refused.")
@click.option("--restored-dsn", metavar="DSN", help="A data repair: the copy taken before the "
              "incident (point-in-time restore, backup) the repair reads rows from; only read. "
              "Its rows go into the scratch copy, and the counts the repair promises are "
              "checked.")
@click.option("--keep", is_flag=True, help="Keep the scratch database on --scratch-dsn.")
@render_options
@quiet_option
def rehearse_cmd(report: str, dsn: str | None, dsn_file: str | None, project: str,
                 django_settings: str | None, number: int | None, scratch_dsn: str | None,
                 restored_dsn: str | None, keep: bool, title: str, incident: str | None, tz: str,
                 contacts: tuple[str, ...], **_: Any) -> int:
    """Rehearse REPORT's fix (an `assess` output folder) on a scratch copy of the schema.

    The live database's schema and its tracker's rows are copied read-only (pg_dump, or
    reportgen's catalog copy where pg_dump would take too many locks) into a scratch
    database; the fix file runs there exactly as the report says; the framework judges it
    (Django: showmigrations and migrate --plan, every DATABASES alias pointed at the scratch
    copy; Alembic: current and upgrade --sql, a copy of alembic.ini pointed there; sqitch:
    status; django-tenants: showmigrations on each repaired tenant; a selective data repair:
    its rows from --restored-dsn, each table counted against what the repair promises). The
    transcript is written to REPORT/rehearsal.json, and the assessment and reports in REPORT
    are rewritten with the outcome: a fix that did not do what the report predicted is
    withdrawn. The reports are rendered again: give the --title, --incident, --tz and
    --contact the assess run had.

    \b
    Exit: 0 the outcome matched the prediction; 1 it did not, or stopped with an error
    (withdrawn); 2 --scratch-dsn or --restored-dsn is the inspected database; 3 cannot
    connect; 4 REPORT or the fix file unreadable, or nothing to rehearse.
    """
    from reportgen.connection import read_dsn_file, resolve_dsn
    from reportgen.rehearse import rehearse_outputs

    from .inputs import load_assessment, load_evidence

    folder = Path(report)
    if dsn and dsn_file:
        raise click.UsageError("give --dsn or --dsn-file, not both")
    opts = render_opts(title, incident, tz, contacts, [command_line()])
    source = EMBEDDING.source or resolve_dsn(read_dsn_file(dsn_file) if dsn_file else dsn)
    bundle = load_evidence(folder / "evidence.json")
    a = load_assessment(folder / "assessment.json", bundle)
    r = rehearse_outputs(folder, bundle, a, source, opts, project=Path(project),
                         settings=django_settings, option=number, scratch_dsn=scratch_dsn,
                         restored_dsn=restored_dsn, keep=keep, say=say)
    click.echo(f"rehearsal: {r.outcome} — {r.why} ({r.seconds} s; transcript "
               f"{folder / r.transcript})")
    return EXIT_OK if r.outcome == "confirmed" else EXIT_GATE
