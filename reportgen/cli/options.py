"""The options several commands share, each defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from reportgen.connection import DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS
from reportgen.constants import LEVELS, PDF_VARIANTS

if TYPE_CHECKING:
    from reportgen.options import RenderOptions


#: Exact counts stop after this many seconds in all (``collect``, ``assess``).
COUNT_BUDGET_S = 120.0
#: ``snapshot``'s: a baseline is taken before every change, so it must stay cheap; tables
#: beyond it keep their estimates.
SNAPSHOT_COUNT_BUDGET_S = 10.0


def connection_options(count_budget_s: float) -> Callable[[Any], Any]:
    """The connection and collection options, with this command's count budget as the
    default --help shows (and the one it uses)."""
    return lambda f: _dsn_options(f, count_budget_s)


def _dsn_options(f: Any, count_budget_s: float) -> Any:
    f = click.option("--dsn", metavar="DSN", help="libpq URL or key=value string. Default: "
                     "DATABASE_URL, then the libpq environment (PGHOST, PGSERVICE, ...). A "
                     "password here is visible to other users in `ps`: prefer ~/.pgpass, "
                     "PGPASSWORD or --dsn-file.")(f)
    f = click.option("--dsn-file", metavar="FILE", help="Read the DSN from FILE's first line "
                     "('-': standard input), so no password appears in `ps`.")(f)
    f = click.option("--project", type=click.Path(exists=True, file_okay=False),
                     help="Application codebase to read migration files from (never imported)."
                     )(f)
    f = click.option("--scan-virtualenvs", is_flag=True,
                     help="Also read migration packages inside virtualenvs and site-packages "
                     "under --project (skipped by default).")(f)
    f = click.option("--django-settings", metavar="MODULE",
                     help="Use Django's MigrationLoader with this settings module (the project "
                     "directory goes on sys.path; loaded in a subprocess, no DB connection)."
                     )(f)
    f = click.option("--tracker", type=click.Choice(["django", "alembic", "golang-migrate",
                                                     "flyway", "prisma", "sqitch"]),
                     help="The migration framework of --project (default: detected: alembic "
                     "where the project has an alembic.ini; golang-migrate, flyway, prisma "
                     "or sqitch where it has their migrations folder or plan; else django)."
                     )(f)
    f = click.option("--exact-counts", is_flag=True,
                     help="count(*) every table in the snapshot (bounded per table and in total)."
                     )(f)
    f = click.option("--count-timeout-ms", type=click.IntRange(10, 600_000), default=5_000,
                     show_default=True, help="statement_timeout for each count(*).")(f)
    f = click.option("--count-budget-s", type=click.FloatRange(0.1, 86_400),
                     default=count_budget_s,
                     show_default=True, help="Total time for exact counts; the rest are "
                     "reported as not counted.")(f)
    f = click.option("--server-log", "server_logs", multiple=True,
                     type=click.Path(exists=True, dir_okay=False),
                     help="PostgreSQL server log (stderr, csvlog or jsonlog); repeatable.")(f)
    f = click.option("--log-tz", help="log_timezone of the server log, when its lines carry a "
                     "zone abbreviation other than UTC.")(f)
    f = click.option("--connect-timeout", "connect_timeout_s", type=click.IntRange(1, 600),
                     default=10, show_default=True,
                     help="Seconds to wait for the server to answer the connection.")(f)
    f = click.option("--statement-timeout-ms", type=click.IntRange(100, 600_000),
                     default=DEFAULT_STATEMENT_TIMEOUT_MS, show_default=True,
                     help="SET LOCAL statement_timeout for every catalog query.")(f)
    f = click.option("--lock-timeout-ms", type=click.IntRange(1, 60_000),
                     default=DEFAULT_LOCK_TIMEOUT_MS, show_default=True,
                     help="SET LOCAL lock_timeout: never wait longer behind another session.")(f)
    return f


dsn_options = connection_options(COUNT_BUDGET_S)


def baseline_options(f: Any) -> Any:
    f = click.option("--baseline", metavar="FILE|auto",
                     help="An earlier evidence bundle to compare with; 'auto': the latest "
                     "baseline of this database in the baseline store taken before the "
                     "incident.")(f)
    f = click.option("--trust-store", is_flag=True, help="Use --baseline auto's store even "
                     "when other users can write to it or own files in it (a baseline there "
                     "could be forged).")(f)
    return click.option("--baseline-store", metavar="DIR", help="Baseline store for "
                        "--baseline auto (default: $REPORTGEN_BASELINE_STORE).")(f)


def store_option(f: Any) -> Any:
    return click.option("--store", metavar="DIR", help="Baseline store (default: "
                        "$REPORTGEN_BASELINE_STORE).")(f)


def keep_options(f: Any) -> Any:
    f = click.option("--keep", type=click.IntRange(1), metavar="N",
                     help="Keep the newest N baselines of each database.")(f)
    f = click.option("--keep-days", type=click.FloatRange(0, min_open=True), metavar="D",
                     help="Remove baselines older than D days (the newest of each database "
                     "is always kept).")(f)
    return f


INCIDENT_START_HELP = ("When the incident began (ISO 8601 with an offset, e.g. "
                       "2026-02-01T14:30:00+00:00): what baselines, counters and the restore "
                       "point are judged against (default: the timeline's first event, else "
                       "the server log's first destructive statement).")


def evidence_options(f: Any) -> Any:
    """What the analysis weighs besides the bundle: the timeline, the incident's start and
    a baseline."""
    f = click.option("--timeline", type=click.Path(dir_okay=False),
                     help="Responder's timeline CSV: time,event,source,approximate.")(f)
    f = click.option("--incident-start", metavar="TIME", help=INCIDENT_START_HELP)(f)
    return baseline_options(f)


def render_options(f: Any) -> Any:
    f = evidence_options(f)
    f = click.option("--title", default="Incident assessment", show_default=True)(f)
    f = click.option("--incident", help="Incident id or one-line description.")(f)
    f = click.option("--tz", default="UTC", show_default=True,
                     help="Time zone for times in the report: UTC, UTC+6, +06:00, Asia/Dhaka.")(f)
    f = click.option("--contact", "contacts", multiple=True, metavar="ROLE=WHO",
                     help="Appendix B contact, repeatable: --contact 'DBA=Jane <j@x.org>'.")(f)
    f = click.option("--template-dir", type=click.Path(exists=True, file_okay=False),
                     help="Directory of templates overriding the built-in ones, by name.")(f)
    return f


def output_options(f: Any) -> Any:
    f = click.option("--pdf-variant", type=click.Choice(PDF_VARIANTS),
                     help="Write an archival PDF variant (e.g. pdf/a-3b, which keeps the "
                     "embedded evidence).")(f)
    f = click.option("--redact", is_flag=True,
                     help="Replace host names, IPs, user/role and database names with stable "
                     "pseudonyms in everything written.")(f)
    f = click.option("--redaction-map", type=click.Path(dir_okay=False),
                     default="reportgen-redaction-map.json", show_default=True,
                     help="Where --redact writes pseudonym -> original (keep it local).")(f)
    return f


def fail_on_option(f: Any) -> Any:
    return click.option("--fail-on", type=click.Choice(LEVELS, case_sensitive=False),
                        help="Exit 1 when any risk reaches this level (for CI gates).")(f)


def no_verify_option(f: Any) -> Any:
    return click.option("--no-verify", is_flag=True,
                        help="Read a bundle whose digest does not match.")(f)


def render_opts(title: str, incident: str | None, tz: str, contacts: tuple[str, ...],
                commands: list[str]) -> RenderOptions:
    """The report's options from the command line, checked (one clear line when not)."""
    from reportgen.options import RenderOptions
    from reportgen.timezones import parse_tz

    parse_tz(tz)  # validate early: one clear line
    pairs = []
    for c in contacts:
        role, sep, who = c.partition("=")
        if not sep or not role.strip() or not who.strip():
            raise click.BadParameter(f"{c!r}: expected ROLE=WHO", param_hint="--contact")
        pairs.append((role.strip(), who.strip()))
    return RenderOptions(title=title, incident=incident, tz=tz, contacts=pairs,
                         commands_used=commands)
