"""`collect` and `snapshot`: read-only evidence from the database into a bundle, or into the
baseline store."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reportgen.connection import describe_target, read_dsn_file, resolve_dsn
from reportgen.errors import EXIT_OK, IncompleteEvidence

from .common import EMBEDDING, EPILOG_EXIT, PROGRESS, quiet_option, say, size, warn
from .options import (
    COUNT_BUDGET_S,
    SNAPSHOT_COUNT_BUDGET_S,
    connection_options,
    dsn_options,
    keep_options,
    store_option,
)

if TYPE_CHECKING:
    from reportgen.collect.run import Collected


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
    count_budget_s: float = COUNT_BUDGET_S
    server_logs: tuple[str, ...] = ()
    log_tz: str | None = None
    connect_timeout_s: int = 10
    scan_virtualenvs: bool = False
    tracker: str | None = None

    @classmethod
    def pick(cls, kw: dict[str, Any]) -> CollectOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: kw.pop(k) for k in list(kw) if k in names})


def _stage(label: str) -> None:
    PROGRESS.phase(label)


def _progress(i: int, total: int, name: str) -> None:
    PROGRESS.count("counting rows", i, total, name)


def collect_evidence(o: CollectOptions) -> Collected:
    from reportgen.collect.run import collect

    if o.dsn and o.dsn_file:
        raise click.UsageError("give --dsn or --dsn-file, not both")
    source = EMBEDDING.source or resolve_dsn(read_dsn_file(o.dsn_file) if o.dsn_file
                                             else o.dsn)
    say(f"collecting from {describe_target(source)} (read-only snapshot) ...")
    t0 = time.perf_counter()
    with PROGRESS.stage("collect", "connecting"):
        collected = collect(source, project=o.project, django_settings=o.django_settings,
                            tracker=o.tracker,
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
        say(f"counted {ec.counted} tables exactly in {ec.duration_s:.2f} s"
            + (f", {ec.skipped} not counted (see the report)" if ec.skipped else ""))
    if bundle.server_log is not None:
        say(f"server log: {len(bundle.server_log.events)} DDL/destructive events from "
            f"{bundle.server_log.lines_read} lines")
    n = collected.relations if bundle.inventory else "?"
    say(f"collected {n} relations in {time.perf_counter() - t0:.2f} s, "
        f"{bundle.collection.round_trips} round trips")
    for c in bundle.collection.collectors:
        if c.status == "error":
            warn(f"warning: collector {c.name} failed: {c.error}")
    if bundle.identity is not None and bundle.identity.is_superuser:
        say(f"note: collected as superuser {bundle.identity.current_user}; a role with "
            "pg_read_all_data and pg_monitor sees the same and can change nothing (README: "
            "\"A role for collection\")")
    return collected


@click.command(epilog=EPILOG_EXIT)
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

    bundle = collect_evidence(CollectOptions.pick(kw)).bundle  # relations in its bytes only
    write_atomic(Path(output), bundle.chunks())
    say(f"wrote {output} ({bundle.digest})")
    if strict and not bundle.complete:
        raise IncompleteEvidence(f"evidence incomplete ({'; '.join(bundle.gaps())}) and "
                                 "--strict is set (bundle written)")
    return EXIT_OK


@click.command(epilog=EPILOG_EXIT)
@connection_options(SNAPSHOT_COUNT_BUDGET_S)
@store_option
@keep_options
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
    bundle = collect_evidence(CollectOptions.pick(kw)).full()
    entry = baselines.add(where, bundle)
    removed = baselines.prune(where, keep, keep_days)
    estimated = entry.tables - entry.counted
    say(f"baseline {where / entry.file}: {entry.relations} relations, {entry.counted} of "
        f"{entry.tables} tables counted exactly"
        + (f" ({estimated} beyond the count budget carry estimates)" if estimated else "")
        + f", {size(entry.bytes)}" + (f"; pruned {len(removed)}" if removed else ""))
    return EXIT_OK
