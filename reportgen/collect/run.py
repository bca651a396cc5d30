"""Run every collector inside the one read-only snapshot and seal the bundle."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from reportgen import __version__
from reportgen.collect.catalog import CatalogRows, read_catalog
from reportgen.connection import (
    APPLICATION_NAME,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DsnSource,
    Snapshot,
    scrub,
)
from reportgen.memory import give_back, no_cycle_collection

# The models and the collectors import pydantic (~0.1 s): collect() imports them while its
# first queries run, so this module's own imports stay light.
if TYPE_CHECKING:
    from reportgen.bundle import Codebase, CollectorRun, EvidenceBundle
    from reportgen.collect.exact_counts import Progress

T = TypeVar("T")


def collect(
    source: DsnSource,
    *,
    project: str | Path | None = None,
    django_settings: str | None = None,
    tracker: str | None = None,
    exact_counts: bool = False,
    count_timeout_ms: int = 5_000,
    count_budget_s: float = 120.0,
    progress: Progress | None = None,
    server_logs: list[Path] | None = None,
    log_tz: str | None = None,
    connect_timeout_s: int = 10,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    scan_virtualenvs: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    stage: Callable[[str], None] | None = None,
    codebase: Codebase | None = None,
) -> Collected:
    """Collect and seal. Large catalogs keep their relations as the JSON text PostgreSQL
    built (spliced into the bundle's bytes); use ``Collected.full()`` for the model."""
    from reportgen.connection import read_only_snapshot

    started = clock()
    say = stage or (lambda label: None)
    runs: list[CollectorRun] = []
    # ``codebase``: read once already (a fleet's members share one project).
    preloaded = codebase is not None
    if not preloaded and django_settings is not None and tracker in (None, "django"):
        # Before the snapshot: the settings say which tables the snapshot reads (schema per
        # tenant: the tenant model's table), and loading them never touches the database.
        codebase = read_codebase(project, django_settings, tracker, scan_virtualenvs, runs, say)
    tenancy = codebase.tenancy if codebase is not None else None
    relations_json: list[bytes] | None = None
    relation_count = 0
    results: dict[str, Any] = {}
    with read_only_snapshot(source, statement_timeout_ms=statement_timeout_ms,
                            lock_timeout_ms=lock_timeout_ms,
                            connect_timeout_s=connect_timeout_s) as (snap, session), \
            _EarlyCatalog(snap) as early:
        say("connected; reading the catalog")
        # The catalog queries are running: import what the rest needs meanwhile.
        from reportgen.bundle import PRETTY_MAX, Inventory, MigrationTables
        from reportgen.collect.django_records import (
            collect_django_records,
            collect_schema_trackers,
        )
        from reportgen.collect.exact_counts import count_rows, suspicious
        from reportgen.collect.identity import collect_identity, target_from
        from reportgen.collect.inventory import collect_inventory
        from reportgen.collect.signals import collect_signals
        from reportgen.collect.trackers import collect_trackers

        target = target_from(source)
        collected = _run(runs, "inventory", snap, lambda: collect_inventory(early.result()),
                         early=early)
        results["identity"] = _run(runs, "identity", snap,
                                   lambda: collect_identity(snap, session, target))
        inv: Inventory | None = None
        if collected is not None:
            relation_count = collected.count
            if exact_counts or collected.count <= PRETTY_MAX:
                inv = collected.materialize()
            else:
                inv, relations_json = collected.meta, collected.relations_json
            del collected
        if exact_counts and inv is not None:
            counted = inv
            counts = _run(runs, "exact_counts", snap, lambda: count_rows(
                snap, counted, per_table_ms=count_timeout_ms, budget_s=count_budget_s,
                statement_timeout_ms=statement_timeout_ms, progress=progress))
            inv.exact_counts = counts
        elif inv is not None and relations_json is None and any(
                suspicious(r) for r in inv.relations):
            # Suspicion is settled by counting: just the tables the statistics flag.
            flagged = inv
            counts = _run(runs, "targeted_counts", snap, lambda: count_rows(
                snap, flagged, per_table_ms=count_timeout_ms, budget_s=count_budget_s,
                statement_timeout_ms=statement_timeout_ms, only=suspicious))
            inv.exact_counts = counts
        results["inventory"] = inv
        django = _run(runs, "migrations", snap,
                      lambda: collect_django_records(snap, session.user))
        others = _run(runs, "trackers", snap, lambda: collect_trackers(snap))
        results["signals"] = _run(runs, "signals", snap, lambda: collect_signals(snap))
        schemas = _run(runs, "tenant_schemas", snap,
                       lambda: collect_schema_trackers(snap, session.user, tenancy))
        results["migrations"] = MigrationTables(django=django, others=others or [],
                                                schemas=schemas) if django else None
        if server_logs:
            results["server_log"] = _server_log(runs, snap, results["identity"], server_logs,
                                                log_tz, started, clock, say)
    round_trips = snap.round_trips  # read after the closing ROLLBACK: every statement sent
    from reportgen.bundle import SCHEMA_VERSION, Collection, EvidenceBundle, Tool

    if not preloaded and not (django_settings is not None and tracker in (None, "django")):
        codebase = read_codebase(project, None, tracker, scan_virtualenvs, runs, say)
    server_log = results.get("server_log")
    finished = clock()
    bundle = EvidenceBundle(
        schema_version=SCHEMA_VERSION,
        tool=Tool(version=__version__),
        collection=Collection(
            started_at=started, finished_at=finished, application_name=APPLICATION_NAME,
            snapshot="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY ... ROLLBACK",
            statement_timeout_ms=statement_timeout_ms, lock_timeout_ms=lock_timeout_ms,
            round_trips=round_trips, collectors=runs),
        target=target,
        identity=results["identity"],
        inventory=results["inventory"],
        migrations=results["migrations"],
        codebase=codebase,
        signals=results["signals"],
        server_log=server_log,
    )
    sealed = bundle.sealed(relations_json)
    spans: list[tuple[int, int]] = []
    if relations_json is not None:  # "[", relation, ",", relation, ..., "]"
        at = len(sealed.chunks()[0])  # the file up to the relations' array
        for i, piece in enumerate(relations_json):
            if i % 2:
                spans.append((at, at + len(piece)))
            at += len(piece)
    return Collected(sealed, relation_count, spliced=relations_json is not None, spans=spans)


def collect_bundle(source: DsnSource, **options: Any) -> EvidenceBundle:
    """``collect`` and the full bundle model (what analysis and rendering need)."""
    return collect(source, **options).full()


@dataclass
class Collected:
    """A sealed bundle. When ``spliced``, ``bundle.inventory.relations`` is empty: the
    relations exist only in the bundle's bytes, as PostgreSQL built them; ``spans`` says
    where each one is (start and end offsets in the bytes)."""

    bundle: EvidenceBundle
    relations: int
    spliced: bool
    spans: list[tuple[int, int]]

    def full(self) -> EvidenceBundle:
        """The bundle with every relation as a model, validated by pydantic's JSON parser one
        relation at a time: parsing the file whole would hold a parse tree of all of it (for
        50,000 tables, hundreds of MB) beside the models. The bundle's pieces are joined
        first, while little else is in memory (they are let go), and each relation is read
        from its place in the whole."""
        b = self.bundle
        if not self.spliced or b.inventory is None:
            return b
        from reportgen.bundle import Relation

        whole = b.to_bytes()
        give_back()
        with no_cycle_collection():
            parse = Relation.model_validate_json
            relations = [parse(whole[start:end]) for start, end in self.spans]
        full = b.model_copy(update={
            "inventory": b.inventory.model_copy(update={"relations": relations})})
        full._raw = whole
        give_back()  # the parser's buffers
        return full


class _EarlyCatalog:
    """The catalog queries (catalog.read_catalog), run in a thread as soon as the snapshot is
    open, inside their own savepoint: PostgreSQL works on the longest queries of the
    collection while this process imports the models. The connection is never used by two
    threads at once: everything else waits for ``wait()``. Leaving the block early (an error,
    Ctrl-C) cancels the query and waits for the thread, so the snapshot closes cleanly."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._value: CatalogRows | None = None
        self._error: BaseException | None = None
        self.t0 = time.perf_counter()
        self.trips0 = snap.round_trips
        self._thread = threading.Thread(target=self._work, name="reportgen-catalog",
                                        daemon=True)

    def __enter__(self) -> _EarlyCatalog:
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            with self._snap.savepoint():
                self._value = read_catalog(self._snap)
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> CatalogRows:
        self.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        while self._thread.is_alive():  # again if it fell between two of the queries
            with contextlib.suppress(psycopg.Error):  # gone: the query ends with it
                self._snap.conn.cancel_safe(timeout=5)
            self._thread.join(0.5)


def _server_log(runs: list[CollectorRun], snap: Snapshot, ident: Any, paths: list[Path],
                log_tz: str | None, started: datetime, clock: Callable[[], datetime],
                say: Callable[[str], None]) -> Any:
    """The server log, read while the snapshot is open: what the roles it shows listing
    tables could see is read in the same snapshot. reportgen's own statements are told
    apart by its session (PID and time window)."""
    from reportgen.collect.role_visibility import catalog_roles, collect_role_visibility
    from reportgen.collect.server_log import OwnSession, read_server_logs

    own = OwnSession(ident.backend_pid, started, clock()) \
        if ident is not None and ident.backend_pid is not None else None
    say("reading the server log")
    log = _run(runs, "server_log", None,
               lambda: read_server_logs(paths, log_tz=log_tz, own=own,
                                        line_prefix=ident.log_line_prefix if ident else None))
    roles = catalog_roles(log, ident.current_database if ident else None) if log else []
    if log is not None and roles:
        seen = _run(runs, "role_visibility", snap, lambda: collect_role_visibility(snap, roles))
        log = log.model_copy(update={"role_visibility": seen or []})
    return log


def _django_codebase(settings: str, root: Path, scan_virtualenvs: bool) -> Codebase:
    """Django's loader for migrations; the static scan still finds destructive scripts."""
    from reportgen.collect.codebase import scan_project
    from reportgen.collect.django_loader import load_codebase

    cb = load_codebase(settings, root)
    scripts = scan_project(root, include_environments=scan_virtualenvs).destructive_scripts
    return cb.model_copy(update={"destructive_scripts": scripts})


#: The migration frameworks ``--tracker`` names (detected from the project without it).
FRAMEWORKS = ("django", "alembic", "golang-migrate", "flyway", "prisma", "sqitch")


def detect_framework(root: Path) -> str:
    """alembic when the project has an alembic.ini (at its root or a few folders below);
    else golang-migrate, flyway, prisma or sqitch when it has one kind of SQL migration folder (or
    plan); else django (the migration-file scan)."""
    from reportgen.collect.alembic_loader import find_ini
    from reportgen.collect.sql_files import find_sql_migrations

    if find_ini(root.resolve()):
        return "alembic"
    kinds = {k for k, _ in find_sql_migrations(root.resolve())}
    return kinds.pop() if len(kinds) == 1 else "django"


def _sql_codebase(family: str, root: Path, scan_virtualenvs: bool) -> Codebase:
    """The one migrations folder of this family under the project, read; several, or none,
    is an error naming them."""
    from reportgen.bundle import Codebase
    from reportgen.collect.codebase import scan_project
    from reportgen.collect.sql_files import (
        METHOD,
        find_sql_migrations,
        read_flyway,
        read_golang,
        read_prisma,
        read_sqitch,
    )

    base = root.resolve()
    found = [d for k, d in find_sql_migrations(base) if k == family]
    if len(found) != 1:
        why = (f"no {family} migrations under {root}" if not found else
               f"{len(found)} {family} migration sets under {root} ("
               + ", ".join(str(p.relative_to(base)) for p in found[:5])
               + "): give --project the folder above the one to read")
        return Codebase(root=str(base), framework=family,
                        method=METHOD, migrations=[], errors=[why])
    read = {"golang-migrate": read_golang, "flyway": read_flyway, "prisma": read_prisma,
            "sqitch": read_sqitch}
    cb = read[family](found[0], base)
    own = {m.path for m in cb.migrations}
    scripts = [s for s in scan_project(root, include_environments=scan_virtualenvs)
               .destructive_scripts if s.path not in own and not s.path.endswith(".down.sql")
               and not (family == "sqitch" and s.path.split("/")[-2:-1] == ["revert"])]
    return cb.model_copy(update={"destructive_scripts": scripts})


def _alembic_codebase(root: Path, scan_virtualenvs: bool) -> Codebase:
    """Alembic's own reading of the project's revisions; the static scan still finds
    destructive scripts (outside the revision files, which are the migrations)."""
    from reportgen.bundle import Codebase
    from reportgen.collect.alembic_loader import METHOD, find_ini, load_alembic
    from reportgen.collect.codebase import scan_project

    found = find_ini(root.resolve())
    if len(found) != 1:
        why = (f"no alembic.ini under {root}" if not found else
               f"{len(found)} alembic.ini files under {root} ("
               + ", ".join(str(p.relative_to(root.resolve())) for p in found[:5])
               + "): give --project the folder of the one to read")
        return Codebase(root=str(root.resolve()), framework="alembic", method=METHOD,
                        migrations=[], errors=[why])
    cb = load_alembic(found[0], root)
    own = {m.path for m in cb.migrations}
    scripts = [s for s in scan_project(root, include_environments=scan_virtualenvs)
               .destructive_scripts if s.path not in own]
    return cb.model_copy(update={"destructive_scripts": scripts})


def read_codebase(project: str | Path | None, django_settings: str | None,
                  tracker: str | None, scan_virtualenvs: bool = False,
                  runs: list[CollectorRun] | None = None,
                  say: Callable[[str], None] = lambda label: None) -> Codebase | None:
    """The codebase's expected state, as the options ask: Django's loader (settings), a
    tracker's files (given or detected under ``project``), or the migration-file scan; None
    without a project. Read once, it serves any number of databases (a fleet)."""
    from reportgen.collect.codebase import scan_project

    runs = runs if runs is not None else []
    root = Path(project) if project is not None else Path.cwd()
    if tracker is None and project is not None and django_settings is None:
        tracker = detect_framework(root)
    if django_settings is not None and tracker in (None, "django"):
        say(f"loading Django's migration graph ({django_settings})")
        return _run(runs, "codebase", None,
                    lambda: _django_codebase(django_settings, root, scan_virtualenvs))
    if tracker == "alembic":
        say(f"reading Alembic's revisions under {root}")
        return _run(runs, "codebase", None, lambda: _alembic_codebase(root, scan_virtualenvs))
    if tracker in ("golang-migrate", "flyway", "prisma", "sqitch"):
        say(f"reading {tracker}'s migration files under {root}")
        family = tracker
        return _run(runs, "codebase", None,
                    lambda: _sql_codebase(family, root, scan_virtualenvs))
    if project is not None:
        say(f"scanning migration files under {project}")
        return _run(runs, "codebase", None, lambda: scan_project(
            project, include_environments=scan_virtualenvs))
    return None


def _run(runs: list[CollectorRun], name: str, snap: Snapshot | None,
         fn: Callable[[], T], *, early: _EarlyCatalog | None = None) -> T | None:
    """Run one collector; a failure is recorded and collection goes on.

    Database collectors run inside a savepoint, so one failing query does not abort the
    snapshot for the others. A lost connection is not a collector failure: it propagates.
    ``early``: this collector's queries, begun (in their own savepoint) before it was
    called; ``fn`` only builds on their result.
    """
    from reportgen.bundle import CollectorRun

    if early is not None:
        early.wait()  # its thread is done with the connection before we touch it
        t0, trips0 = early.t0, early.trips0
    else:
        t0 = time.perf_counter()
        trips0 = snap.round_trips if snap else 0
    try:
        if snap is not None and early is None:
            with snap.savepoint():
                value = fn()
        else:
            value = fn()
    except (psycopg.Error, OSError) as exc:
        if snap is not None and (snap.conn.broken or snap.conn.closed):
            raise  # the server went away: no partial snapshot is worth writing
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        runs.append(CollectorRun(
            name=name, status="error", duration_ms=_ms(t0),
            error=scrub(f"{type(exc).__name__}: {msg}", snap._secrets if snap else []),
            round_trips=(snap.round_trips - trips0) if snap else 0))
        return None
    runs.append(CollectorRun(name=name, status="ok", duration_ms=_ms(t0),
                             round_trips=(snap.round_trips - trips0) if snap else 0))
    return value


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
