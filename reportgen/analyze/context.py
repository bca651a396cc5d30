"""What every rule needs, computed once from the bundle: the reconciliation, which relation
belongs to which app, this database's server-log events, when the incident began and since
when the activity counters run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from reportgen.analyze.diff import TRACKER_TABLES
from reportgen.analyze.framework import DJANGO, Framework, framework_of, tracked
from reportgen.analyze.model import TenantMatrix, TimelineEntry
from reportgen.analyze.reconcile import (
    Reconciliation,
    RecordHistory,
    live_tables,
    reconcile,
)
from reportgen.analyze.tenants import public_view, tenant_matrix
from reportgen.bundle import EvidenceBundle, LogEvent, MigrationRecord, Relation

#: Fixed table names of Django's contrib apps (their db_table never depends on the project).
DJANGO_CONTRIB_TABLES = {
    "django_migrations": "migrations (Django)", "django_content_type": "contenttypes",
    "django_admin_log": "admin", "django_session": "sessions", "django_site": "sites",
}
#: Tracking tables of the frameworks reconciled besides Django: table → tool.
TRACKER_NAMES = {"alembic_version": "Alembic", "schema_migrations": "golang-migrate or Rails",
                 "_prisma_migrations": "Prisma", "flyway_schema_history": "Flyway"}
#: Statements that remove data or schema: the first of them in this database's log is the
#: latest the incident can have begun.
LOSS_KINDS = ("DROP TABLE", "TRUNCATE", "DELETE without WHERE", "UPDATE without WHERE",
              "ALTER ... DROP", "DROP")


@dataclass(frozen=True)
class IncidentStart:
    time: datetime
    source: str  # what it rests on, e.g. "the first event of the responder's timeline"


@dataclass
class Context:
    bundle: EvidenceBundle
    baseline: EvidenceBundle | None
    rec: Reconciliation | None
    live: dict[str, Relation] | None
    records: list[MigrationRecord]
    app_of: dict[str, str]  # qualified relation name → app label
    app_source: dict[str, str]  # app → how its tables were attributed
    apps: dict[str, list[Relation]] = field(default_factory=dict)
    #: Server-log events of this database (events of others, when the log names the
    #: database, are left out: a log file serves every database of the server).
    log_events: list[LogEvent] = field(default_factory=list)
    other_database_events: int = 0
    incident_start: IncidentStart | None = None
    #: The migration framework of the codebase (Django without one): its words, its table.
    fw: Framework = DJANGO
    #: Since when pg_stat_* counters run (None: unknown); see counters_since().
    counters_since: datetime | None = None
    #: Schemas holding a django_migrations table (more than one: schema-per-tenant).
    tracker_schemas: list[str] = field(default_factory=list)
    #: With more than one: apps whose tables are absent from the schema reconciled but
    #: present in another tracker's schema, or absent altogether (tenant apps, as
    #: django-tenants lays them out): not judged until tenants are reconciled.
    tenant_apps: set[str] = field(default_factory=set)
    #: Schema per tenant with its layout read from the settings: every tenant judged alone.
    tenants: TenantMatrix | None = None

    @property
    def records_by_app(self) -> dict[str, list[MigrationRecord]]:
        out: dict[str, list[MigrationRecord]] = defaultdict(list)
        for r in self.records:
            out[r.app].append(r)
        return out

    def counters_cover(self, since: datetime | None) -> bool:
        """The activity counters ran through everything after ``since``."""
        return since is not None and self.counters_since is not None \
            and self.counters_since <= since

    def counters_note(self) -> str:
        """Why counter evidence is or is not evidence for this incident, one clause."""
        if self.counters_since is None:
            return "the activity counters' start is unknown"
        start = self.incident_start
        since = f"{self.counters_since:%Y-%m-%d %H:%M:%S} UTC"
        if start is None:
            return (f"the activity counters run since {since}; when the incident began is "
                    "not known (give a timeline or --incident-start)")
        if self.counters_cover(start.time):
            return (f"the activity counters run since {since}, before the incident began "
                    f"({start.time:%Y-%m-%d %H:%M:%S} UTC, {start.source})")
        return (f"the activity counters run only since {since} (statistics reset or server "
                f"restart), after the incident began ({start.time:%Y-%m-%d %H:%M:%S} UTC, "
                f"{start.source}): they do not cover it")


def counters_since(bundle: EvidenceBundle) -> datetime | None:
    """The later of pg_stat_database.stats_reset and the server's start: a crash restart
    discards every counter without setting stats_reset, and a clean restart cannot be told
    from a crash, so counters are trusted only since the server started."""
    sig, ident = bundle.signals, bundle.identity
    if sig is None or sig.database is None or ident is None:
        return None
    times = [t for t in (sig.database.stats_reset, ident.postmaster_start_time) if t]
    return max(times) if times else None


def this_database(bundle: EvidenceBundle) -> tuple[list[LogEvent], int]:
    """The server log's events that may be this database's: those the log names this
    database for, or names none for. And how many name another."""
    log = bundle.server_log
    if log is None:
        return [], 0
    db = bundle.identity.current_database if bundle.identity else bundle.target.dbname
    mine = [e for e in log.events if e.database is None or db is None or e.database == db]
    return mine, len(log.events) - len(mine)


def incident_start(events: list[LogEvent], timeline: list[TimelineEntry],
                   explicit: datetime | None = None) -> IncidentStart | None:
    """When the incident began: as the responder says (--incident-start), else the earliest of
    the first event of their timeline and the first destructive statement the server log shows
    in this database (or a delete from a migration tracker). The earliest, so evidence that
    must cover the incident (counters, a baseline) covers all of it."""
    if explicit is not None:
        return IncidentStart(explicit, "--incident-start")
    given = [e for e in timeline if e.source == "timeline file (--incident-start)"]
    if given:
        return IncidentStart(min(e.time for e in given), "--incident-start")
    found: list[IncidentStart] = []
    responder = [e for e in timeline if e.source.startswith("timeline file")]
    if responder:
        first = min(responder, key=lambda e: e.time)
        found.append(IncidentStart(first.time, f"the first event of the responder's timeline, "
                                               f"'{first.event[:60]}'"))
    for e in events:
        if e.kind in LOSS_KINDS or (e.kind.startswith("DELETE") and any(
                t.name in TRACKER_TABLES for t in e.tables)):
            found.append(IncidentStart(e.time, f"the server log's first {e.kind} "
                                               f"({e.source})"))
            break
    return min(found, key=lambda s: s.time) if found else None


def record_history(bundle: EvidenceBundle, baseline: EvidenceBundle | None,
                   start: IncidentStart | None, since: datetime | None) -> RecordHistory:
    tr = tracked(bundle)
    dj = bundle.migrations.django if bundle.migrations and tr.framework is DJANGO else None
    rel = None
    if dj is not None and bundle.inventory is not None:
        rel = next((r for r in bundle.inventory.relations if r.name == "django_migrations"
                    and r.schema_name == dj.schema_name), None)
    # Alembic moves its one row per head with UPDATE (a stamp back, a downgrade too): no
    # delete count says a record was never removed, so none is used.
    base_records = None
    if baseline is not None and baseline.migrations is not None:
        before = tracked(baseline, graph=bundle)
        if before.table_present and before.readable:
            base_records = frozenset((r.app, r.name) for r in before.records)
    return RecordHistory(table=tr.framework.tracker,
        baseline=base_records,
        baseline_taken=baseline.collection.started_at if baseline is not None else None,
        incident_start=start.time if start is not None else None, counters_since=since,
        deletes=rel.deleted_tuples if rel is not None else None,
        rewritten=dj.rewritten if dj is not None else None)


def _tenant_apps(bundle: EvidenceBundle, rec: Reconciliation | None,
                 trackers: list[str]) -> set[str]:
    live = live_tables(bundle)
    if rec is None or live is None or len(trackers) < 2 or bundle.inventory is None:
        return set()
    main = next(iter(live.values())).schema_name if live else None
    elsewhere = {r.name for r in bundle.inventory.relations
                 if r.schema_name in trackers and r.schema_name != main}
    by_app: dict[str, list[str]] = defaultdict(list)
    for table, app in rec.expected_tables.items():
        by_app[app].append(table)
    return {app for app, tables in by_app.items()
            if any(t not in live for t in tables)
            and (all(t not in live for t in tables) or any(t in elsewhere for t in tables))}


def build_context(bundle: EvidenceBundle, baseline: EvidenceBundle | None = None,
                  timeline: list[TimelineEntry] | None = None,
                  explicit_start: datetime | None = None) -> Context:
    events, others = this_database(bundle)
    start = incident_start(events, timeline or [], explicit_start)
    since = counters_since(bundle)
    shared = public_view(bundle)  # schema per tenant: the shared schema's own view
    rec = reconcile(shared, record_history(shared, baseline, start, since))
    matrix = tenant_matrix(bundle, since, baseline, start.time if start is not None else None)
    records = tracked(bundle).records
    labels = {r.app for r in records}
    if bundle.codebase:
        labels |= {m.app for m in bundle.codebase.migrations}
    expected = rec.expected_tables if rec else {}
    app_of: dict[str, str] = {}
    app_source: dict[str, str] = {}
    apps: dict[str, list[Relation]] = defaultdict(list)
    # An app's tables carry its label and "_": the longest label that prefixes the name (each
    # "_" of the name, from the right, ends a candidate: linear in the relations, whatever
    # the number of labels).
    registry = tracked(bundle).schema_name if framework_of(bundle).key == "sqitch" else None
    for r in bundle.inventory.relations if bundle.inventory else []:
        if r.schema_name == registry:
            app, how = "migrations (sqitch)", "sqitch's registry schema"
        elif r.name in expected:
            app, how = expected[r.name], "migration files"
        elif r.name in TRACKER_NAMES:
            app, how = f"migrations ({TRACKER_NAMES[r.name]})", "a migration tool's table"
        elif r.name in DJANGO_CONTRIB_TABLES:
            app, how = DJANGO_CONTRIB_TABLES[r.name], "Django contrib table name"
        else:
            match = _label_prefix(r.name, labels)
            if match:
                app, how = match, "app label prefix"
            elif "_" in r.name:
                app, how = r.name.split("_", 1)[0], "name prefix"
            else:
                app, how = "(no prefix)", "name prefix"
        app_of[r.qualified] = app
        app_source.setdefault(app, how)
        apps[app].append(r)
    trackers = sorted({r.schema_name for r in (bundle.inventory.relations if bundle.inventory
                                               else []) if r.name == "django_migrations"})
    return Context(bundle=bundle, baseline=baseline, rec=rec, live=live_tables(bundle),
                   tenant_apps=set() if matrix is not None and matrix.error is None
                   else _tenant_apps(bundle, rec, trackers), tenants=matrix,
                   records=records, app_of=app_of, app_source=app_source, apps=dict(apps),
                   log_events=events, other_database_events=others, incident_start=start,
                   counters_since=since, tracker_schemas=trackers, fw=framework_of(bundle))


def _label_prefix(name: str, labels: set[str]) -> str | None:
    """The longest of ``labels`` that ``name`` starts with, followed by "_"."""
    i = name.rfind("_")
    while i > 0:
        if name[:i] in labels:
            return name[:i]
        i = name.rfind("_", 0, i)
    return None
