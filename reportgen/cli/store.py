"""`baselines list|show|prune`: the baseline store `snapshot` writes to."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from reportgen.errors import EXIT_OK

from .common import EPILOG_EXIT, size, warn
from .options import keep_options, store_option


@click.group(epilog=EPILOG_EXIT)
def baselines() -> None:
    """List, show and prune the baseline store (see `reportgen snapshot`)."""


def _store_warnings(where: Path) -> None:
    from reportgen import baselines as bl

    for p in bl.store_problems(where):
        warn(f"warning: {p}: its baselines may not be yours (--baseline auto refuses this "
             "store without --trust-store)")


@baselines.command("list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="The index as JSON.")
def baselines_list(store: str | None, as_json: bool) -> int:
    """Every baseline, oldest first: time, database, tables counted, size, file."""
    from dataclasses import asdict

    from reportgen import baselines as bl

    where = bl.store_dir(store)
    _store_warnings(where)
    listed = bl.listing(where)
    for skipped in listed.skipped:
        warn(f"warning: not a baseline, never used: {skipped}")
    found = listed.entries
    if as_json:
        click.echo(json.dumps([asdict(e) for e in found], indent=2, ensure_ascii=False))
        return EXIT_OK
    for e in found:
        where_ = e.endpoint or (f"system {e.system_identifier}" if e.system_identifier else "")
        flag = "  FUTURE-DATED (never chosen, never pruned)" if e.future else ""
        click.echo(f"{e.time:%Y-%m-%d %H:%M:%S}Z  {shlex.quote(e.database)}  {where_}  "
                   f"{e.counted}/{e.tables} counted  {size(e.bytes)}  {e.file}{flag}")
    if not found:
        click.echo("no baselines")
    return EXIT_OK


@baselines.command("show")
@click.argument("file")
@store_option
def baselines_show(file: str, store: str | None) -> int:
    """One baseline: its identity, time and what it holds (FILE as `baselines list` prints)."""
    from reportgen import baselines as bl

    where = bl.store_dir(store)
    entry = next((e for e in bl.entries(where) if e.file == file), None)
    if entry is None:
        raise click.BadParameter(f"{file!r} is not in {where} (see reportgen baselines list)",
                                 param_hint="FILE")
    b = bl.load(where, entry)
    click.echo(f"file:        {where / entry.file}")
    click.echo(f"taken:       {entry.time:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"database:    {entry.key.describe()}")
    click.echo(f"digest:      {entry.digest}")
    click.echo(f"relations:   {entry.relations} ({entry.tables} tables, {entry.counted} counted "
               "exactly)")
    recs = b.migrations.django.records if b.migrations else []
    click.echo(f"django_migrations: {len(recs)} records")
    return EXIT_OK


@baselines.command("prune")
@store_option
@keep_options
def baselines_prune(store: str | None, keep: int | None, keep_days: float | None) -> int:
    """Remove old baselines (per database; the newest of each is always kept)."""
    from reportgen import baselines as bl

    if keep is None and keep_days is None:
        raise click.UsageError("give --keep N and/or --keep-days D")
    where = bl.store_dir(store)
    _store_warnings(where)
    removed = bl.prune(where, keep, keep_days)
    for e in removed:
        click.echo(f"removed {e.file}")
    click.echo(f"{len(removed)} removed, {len(bl.entries(where))} kept")
    return EXIT_OK
