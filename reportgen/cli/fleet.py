"""`fleet assess` and `fleet merge`: many databases, one report each, one summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reportgen.errors import EXIT_OK, GateReached, InputError

from .common import EPILOG_EXIT, formats, quiet_option, say
from .options import fail_on_option

if TYPE_CHECKING:
    from reportgen.fleet import FleetRow, FleetShard

EPILOG_FLEET = ("Exit codes: 0 done; 1 --fail-on reached (a member at or above the level, or "
                "a member not assessed); 2 usage; 3 no member could be reached; 4 bad "
                "members file or shard files; 6 output not written; 70 internal error.")


@click.group(epilog=EPILOG_EXIT)
def fleet() -> None:
    """Many databases in one run: one evidence bundle and report per database, and a fleet
    summary with the worst verdict of each.

    \b
    Examples:
      reportgen fleet assess --members dsns.txt --project . --django-settings app.settings \\
          --out fleet/
      reportgen fleet assess --all-databases --dsn "service=prod" --out fleet/
      reportgen fleet assess --members dsns.txt --shard "$JOB_COMPLETION_INDEX/8" --out shard/
      reportgen fleet merge shard-*/ --out fleet/
    """


@fleet.command("assess", epilog=EPILOG_FLEET)
@click.option("--members", "members_file", type=click.Path(exists=True, dir_okay=False),
              help="File of DSNs, one per line (# comments). Passwords by reference only: "
              "service=NAME (pg_service.conf) or a passfile (PGPASSFILE); a line holding a "
              "password is refused.")
@click.option("--all-databases", is_flag=True,
              help="Every database of the server --dsn (or the libpq environment) reaches "
              "that the role may connect to.")
@click.option("--dsn", metavar="DSN", help="With --all-databases: the server (its dbname is "
              "the one listed from).")
@click.option("--project", type=click.Path(exists=True, file_okay=False),
              help="The codebase every member runs (read once).")
@click.option("--django-settings", metavar="MODULE", help="As for assess.")
@click.option("--tracker", type=click.Choice(["django", "alembic", "golang-migrate", "flyway",
                                              "prisma", "sqitch"]), help="As for assess.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory: members/NNNNN-name/ per member, the shard file, and "
              "(unsharded) fleet.md/.csv.")
@click.option("--format", "fmt", default="md", show_default=True,
              help="Each member's report formats (md, html, pdf); the summary gets the same "
              "and fleet.csv.")
@click.option("--jobs", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Members assessed at the same time.")
@click.option("--shard", metavar="I/N", help="Assess only members whose position is I "
              "modulo N (0 <= I < N); merge the shards with `fleet merge`.")
@click.option("--connect-timeout", "connect_timeout_s", type=click.IntRange(1, 600),
              default=10, show_default=True, help="Seconds to wait for each server.")
@click.option("--statement-timeout-ms", type=click.IntRange(100, 600_000), default=None,
              help="SET LOCAL statement_timeout for every catalog query (default: assess's).")
@fail_on_option
@quiet_option
def fleet_assess(members_file: str | None, all_databases: bool, dsn: str | None,
                 project: str | None, django_settings: str | None, tracker: str | None,
                 out: str, fmt: str, jobs: int, shard: str | None, connect_timeout_s: int,
                 statement_timeout_ms: int | None, fail_on: str | None, **_: Any) -> int:
    """Assess every member: one folder each (evidence.json, assessment.json, report), then
    the shard's rows (fleet-shard-I-of-N.json) and, when not sharded, the summary."""
    from reportgen.collect.run import read_codebase
    from reportgen.connection import resolve_dsn
    from reportgen.errors import ConnectionFailed
    from reportgen.fleet import parse_shard, read_members, run_fleet, server_members

    if bool(members_file) == all_databases:
        raise click.UsageError("give --members FILE or --all-databases (one of them)")
    fmts = formats(fmt)
    index, count = parse_shard(shard)
    if members_file:
        try:
            text = Path(members_file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--members {members_file}: cannot read it "
                             f"({type(exc).__name__})") from None
        members = read_members(text, Path(members_file).name)
    else:
        members = server_members(resolve_dsn(dsn), connect_timeout_s)
    if not members:
        raise InputError("no members: the list is empty")
    codebase = read_codebase(project, django_settings, tracker, say=say) \
        if project or django_settings else None
    options: dict[str, Any] = {"connect_timeout_s": connect_timeout_s, "project": project,
                               "django_settings": django_settings, "tracker": tracker}
    if statement_timeout_ms is not None:
        options["statement_timeout_ms"] = statement_timeout_ms
    mine = sum(1 for m in members if m.position % count == index)
    say(f"fleet: {mine} of {len(members)} member(s) in shard {index}/{count}, {jobs} at a time")
    result = run_fleet(members, Path(out), shard=(index, count), jobs=jobs, formats=fmts,
                       collect_options=options, codebase=codebase, progress=say)
    rows = result.rows
    if count == 1:
        _summary(Path(out), [(Path(out), result)], fmts)
    else:
        say(f"wrote {Path(out) / f'fleet-shard-{index}-of-{count}.json'}; merge the shards "
            "with: reportgen fleet merge DIR... --out DIR")
    if rows and all(r.outcome in ("unreachable", "refused") for r in rows):
        raise ConnectionFailed(f"none of the {len(rows)} member(s) could be reached (see "
                               "the shard file)")
    return _exit(rows, fail_on)


@fleet.command("merge", epilog=EPILOG_FLEET)
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Where fleet.md/.csv (and .html/.pdf as asked) go.")
@click.option("--format", "fmt", default="md", show_default=True,
              help="Summary formats besides fleet.csv: md, html, pdf.")
@fail_on_option
@quiet_option
def fleet_merge(dirs: tuple[str, ...], out: str, fmt: str, fail_on: str | None,
                **_: Any) -> int:
    """The fleet summary from the shards' output directories (each holding its
    fleet-shard-I-of-N.json and its members' folders); a missing shard is named."""
    from reportgen.fleet import load_shards

    rows = _summary(Path(out), load_shards([Path(d) for d in dirs]), formats(fmt))
    return _exit(rows, fail_on)


def _summary(out: Path, shards: list[tuple[Path, FleetShard]], fmts: list[str]
             ) -> list[FleetRow]:
    from reportgen.fleet import fleet_worst, missing_shards, write_summary

    rows, written = write_summary(shards, out, fmts)
    for p in written:
        say(f"wrote {p}")
    missing = missing_shards(shards)
    if missing:
        say(f"shards missing: {', '.join(map(str, missing))} (their members are not in the "
            "summary)")
    click.echo(f"fleet: {len(rows)} member(s), worst {fleet_worst(rows)}"
               + (f", {len(missing)} shard(s) missing" if missing else ""))
    return rows


def _exit(rows: list[FleetRow], fail_on: str | None) -> int:
    from reportgen.fleet import fleet_worst, gate_reached

    if gate_reached(rows, fail_on):
        raise GateReached(f"fleet worst {fleet_worst(rows)} reached --fail-on "
                          f"{(fail_on or '').upper()} (see the fleet summary)")
    return EXIT_OK
