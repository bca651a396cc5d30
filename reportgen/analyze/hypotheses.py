"""Root-cause hypotheses: a fixed, documented set, each weighed only by machine evidence.

Every report weighs the same seven hypotheses. Each lists the machine evidence that can
support or contradict it (the catalog, the statistics, the server log, the reconciliation of
migration files with records, a baseline), and nothing else decides it. A line of the
responder's timeline may mention one (generic keywords below): it is shown as "reported by the
responder", never counted as evidence. The verdict is SUPPORTED (evidence for, none against),
CONTRADICTED (evidence against, none for) or UNDECIDED (both, or neither: then the report says
what evidence would decide it).

Counters count only over their epoch: ``pg_stat_*`` figures that do not go back to before the
incident began (statistics reset, or a server restart since, which a crash makes discard them)
never count as evidence that something did *not* happen.

- records_deleted: migration records were deleted. For: records gone since the baseline, a
  logged DELETE/TRUNCATE of django_migrations, deletions counted on it. Against: no migration
  that ran lacks its record; the counters cover the time since the missing records could have
  been written and show no row removed.
- never_recorded: the schema was created without recording its migrations. For: records
  missing while the counters show that no row was ever removed; more records missing than
  were deleted (then both sides hold: UNDECIDED). Against: any deletion; no record missing.
- tables_dropped: tables were dropped. For: tables gone since the baseline, a logged DROP
  TABLE of an absent table, a missing table that the schema shows existed (a migration that
  ran created a foreign key to it), migrations shown to have run whose tables are gone.
  Against: every table the migrations that ran create is present; every baseline table is.
  A table recorded as created but absent, with nothing showing it existed, decides nothing:
  ``migrate --fake`` leaves the same picture.
- rows_deleted: rows were deleted from tables that still exist. For: tables emptied per the
  statistics, rows gone since the baseline from tables that do not churn by design, a logged
  DELETE/TRUNCATE since the incident began. Against: exact counts in the baseline and now
  show no such table with fewer rows.
- dangling_reference: a migration references a model nothing creates. For: the
  reconciliation finds one. Against: the migration files were read and no reference dangles.
- query_blind: a script saw "no tables" because of its query, not because tables were gone.
  Judged from the script's own query as the server log shows it (log_statement = 'all'):
  For: it asked information_schema as a role that can see fewer relations than pg_class
  holds, or filtered on a schema that holds none. Against: every such query in this database
  was asked as a role that sees every relation of the schemas it named.
- wrong_database: the script ran against another database (or branch) than this one. For:
  the log shows it listing tables in another database of this server. Against: every such
  query the log shows ran in this database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reportgen.analyze.context import Context
from reportgen.analyze.model import Finding, Hypothesis, TimelineEntry
from reportgen.analyze.rules import django_migrations_relation
from reportgen.bundle import LogEvent

Weighed = tuple[list[str], list[str], str | None]  # for, against, what would decide it


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    keywords: tuple[str, ...]  # generic words that make a responder's line relevant
    weigh: Callable[[Context, dict[str, Finding], list[TimelineEntry]], Weighed]


#: Words of a responder's line about a script that found no tables.
SCRIPT_WORDS = ("0 tables", "no tables", "zero tables", "found 0", "found no")


def _deletes_counted(ctx: Context) -> int | None:
    """Rows deleted from django_migrations per the statistics (None: not known)."""
    rel = django_migrations_relation(ctx)
    return rel.deleted_tuples if rel is not None else None


def _logged(ctx: Context, kinds: tuple[str, ...], table: str | None = None,
            since: datetime | None = None) -> list[str]:
    return [f"server log {e.time:%Y-%m-%d %H:%M:%S} UTC: {e.kind} {e.statement[:120]} "
            f"[{e.source}]" for e in ctx.log_events if e.kind in kinds
            and (table is None or any(t.name == table for t in e.tables))
            and (since is None or e.time >= since)]


def _ev(ids: dict[str, Finding], *names: str) -> list[str]:
    return [e for n in names if n in ids for e in ids[n].evidence]


def _missing_records(ctx: Context) -> list[tuple[str, str]]:
    """Migrations that ran without a record now (re-recordable, or lost)."""
    if ctx.rec is None:
        return []
    return [(s.app, s.name) for s in ctx.rec.statuses
            if s.state in ("schema_present_unrecorded", "schema_lost_unrecorded")
            or (s.state == "unverifiable_unrecorded" and s.present)]


def _none_removed(ctx: Context) -> str | None:
    """'No record removed' as counter evidence, when the counters cover every missing
    record's life; None when they do not (then they decide nothing)."""
    missing = _missing_records(ctx)
    if ctx.rec is None or not ctx.rec.records_never_removed(missing):
        return None
    since = ctx.counters_since
    return (f"no row was deleted from django_migrations, nor the table truncated, since "
            f"{since:%Y-%m-%d %H:%M} UTC, before any missing record could have been written "
            "(statistics)" if since else None)


def _records_deleted(ctx: Context, ids: dict[str, Finding],
                     timeline: list[TimelineEntry] | None = None) -> Weighed:
    deletes = _deletes_counted(ctx)
    for_ = _ev(ids, "migration.records_removed_since_baseline")
    for_ += _logged(ctx, ("DELETE", "DELETE without WHERE", "TRUNCATE"), ctx.fw.tracker)
    if deletes:
        for_.append(f"statistics: {deletes} row(s) deleted from django_migrations since "
                    f"{_since(ctx)}")
    against: list[str] = []
    if ctx.rec is not None and not _missing_records(ctx) \
            and "migration.records_removed_since_baseline" not in ids:
        against.append("reconciliation: no migration that ran lacks its record")
    elif not for_ and (none := _none_removed(ctx)):
        against.append(f"statistics: {none}")
    return for_, against, None if for_ or against else _undecided_records(ctx)


def _since(ctx: Context) -> str:
    return f"{ctx.counters_since:%Y-%m-%d %H:%M} UTC" if ctx.counters_since else \
        "statistics were last reset"


def _undecided_records(ctx: Context) -> str:
    if ctx.rec is None:
        return "the migration records could not be reconciled with the codebase"
    return ("a baseline (a bundle from before the incident) or a server log of DELETEs "
            "(log_statement = 'mod') would show whether records were removed; the counters "
            f"do not: {ctx.rec.history.undecided_because()}")


def _never_recorded(ctx: Context, ids: dict[str, Finding],
                    timeline: list[TimelineEntry] | None = None) -> Weighed:
    deleted, _, _ = _records_deleted(ctx, ids)
    missing = _missing_records(ctx)
    if not missing:
        return [], (["reconciliation: no migration that ran lacks its record"]
                    if ctx.rec is not None else []), None
    counted = _deletes_counted(ctx)
    removed = len(ids["migration.records_removed_since_baseline"].subjects) \
        if "migration.records_removed_since_baseline" in ids else 0
    explained = max(counted or 0, removed)
    if deleted and explained and explained < len(missing):
        # More records missing than were ever deleted: deletion explains only some of them.
        gap = len(missing) - explained
        return [f"{len(missing)} record(s) missing but only {explained} deleted: at least "
                f"{gap} {'was' if gap == 1 else 'were'} never written"], deleted, None
    if deleted:
        return [], deleted, None
    none = _none_removed(ctx)
    if none:
        return [f"{len(missing)} migration(s) ran without a record, and {none}"], [], None
    return [], [], _undecided_records(ctx)


def _tables_dropped(ctx: Context, ids: dict[str, Finding],
                    timeline: list[TimelineEntry] | None = None) -> Weighed:
    for_ = _ev(ids, "data.tables_dropped_since_baseline", "data.tables_dropped_logged")
    missing = ids.get("data.tables_missing")
    existed = ctx.rec.existed if ctx.rec is not None else {}
    if missing is not None:
        for_ += [f"{t} existed: {existed[t]}" for t in missing.subjects if t in existed]
    for_ += _ev(ids, "schema.lost_unrecorded")
    against: list[str] = []
    if ctx.rec is not None and ctx.live is not None and missing is None \
            and "schema.lost_unrecorded" not in ids:
        live = ctx.live
        expected = [t for t, key in ctx.rec.created_by.items()
                    if t in ctx.rec.expected_tables and _was_applied(ctx, key)]
        if expected and all(t in live for t in expected) and not ctx.tenant_apps:
            against.append(f"all {len(expected)} tables created by migrations that ran "
                           "exist (pg_class)")
    if ctx.baseline is not None and "data.tables_dropped_since_baseline" not in ids:
        against.append("baseline: every table it lists is present")
    if for_ or against:
        return for_, against, None
    if missing is not None:
        return [], [], (f"{', '.join(missing.subjects[:5])} are absent though recorded as "
                        "created: dropped, or recorded without running (migrate --fake); a "
                        "baseline or a server log of DDL would tell")
    return [], [], "no reconciliation of the codebase with the schema (pass --project)"


def _rows_deleted(ctx: Context, ids: dict[str, Finding],
                  timeline: list[TimelineEntry] | None = None) -> Weighed:
    for_ = _ev(ids, "data.tables_truncated", "data.tables_emptied",
               "data.rows_lost_since_baseline", "data.row_estimates_dropped")
    # A DELETE with a WHERE clause is an application's daily work: only statements that
    # empty a table, since the incident began, say rows were deleted by it.
    start = ctx.incident_start.time if ctx.incident_start else None
    for_ += [e for e in _logged(ctx, ("DELETE without WHERE", "TRUNCATE"), since=start)
             if ctx.fw.tracker not in e]
    against: list[str] = []
    if ctx.baseline is not None and "data.rows_lost_since_baseline" not in ids:
        base, now = ctx.baseline.inventory, ctx.bundle.inventory
        counted = base is not None and now is not None and any(
            r.exact_rows is not None for r in base.relations) and any(
            r.exact_rows is not None for r in now.relations)
        if counted:
            against.append("exact counts in the baseline and now: no table that does not "
                           "churn by design has fewer rows")
    return for_, against, None if for_ or against else (
        "a baseline with exact counts (a bundle from a point-in-time copy) would show it; "
        + ctx.counters_note())


def _dangling(ctx: Context, ids: dict[str, Finding],
              timeline: list[TimelineEntry] | None = None) -> Weighed:
    if "migration.dangling_reference" in ids:
        return _ev(ids, "migration.dangling_reference"), [], None
    if ctx.rec is not None:
        return [], ["reconciliation: every model a migration references is created by one"], \
            None
    return [], [], "no codebase was read (pass --project)"


#: How far from the responder's own line about the script (e.g. "reported 0 tables") a
#: logged query may be taken for the script's.
SCRIPT_WINDOW = timedelta(minutes=10)


def _catalog_queries(ctx: Context, timeline: list[TimelineEntry]) -> list[LogEvent] | None:
    """The logged SELECTs that list tables which may be the script's: those within
    SCRIPT_WINDOW of the responder's line about it (a line mentioning "0 tables"). None when
    the timeline has no such line: then nothing tells which logged query was the script's.
    reportgen's own sessions (application_name reportgen/...) are never the script; a script
    naming itself so is left out, which can only leave the hypotheses undecided."""
    said = [e.time for e in timeline if e.source.startswith("timeline file")
            and any(k in e.event.lower() for k in SCRIPT_WORDS)]
    if not said:
        return None
    log = ctx.bundle.server_log
    return [e for e in (log.events if log else []) if e.kind == "CATALOG QUERY"
            and not (e.application or "").startswith("reportgen")
            and any(abs(e.time - t) <= SCRIPT_WINDOW for t in said)]


NO_QUERY = ("the server log does not show the script's query (SELECTs are logged only with "
            "log_statement = 'all'): it would show its role, database and filters")
NO_LINE = ("the timeline does not say when the script ran (a line such as 'the audit script "
           "listed no tables'): with it, the server log's queries of that time show what "
           "the script asked, as which role, in which database")


def _query_blind(ctx: Context, ids: dict[str, Finding], timeline: list[TimelineEntry]
                 ) -> Weighed:
    db = ctx.bundle.identity.current_database if ctx.bundle.identity else None
    found = _catalog_queries(ctx, timeline)
    if found is None:
        return [], [], NO_LINE
    here = [e for e in found if e.database in (None, db)]
    if not here:
        return [], [], NO_QUERY
    log = ctx.bundle.server_log
    seen = log.role_visibility if log else []
    present = {r.schema_name for r in ctx.bundle.inventory.relations} \
        if ctx.bundle.inventory else set()
    for_: list[str] = []
    against: list[str] = []
    for e in here:
        where = f"server log {e.time:%Y-%m-%d %H:%M:%S} UTC [{e.source}]"
        empty = [s for s in e.schemas if s not in present]
        if empty:
            for_.append(f"{where}: {e.user or '?'} filtered on schema(s) {', '.join(empty)}, "
                        "which hold no relation (pg_catalog)")
            continue
        reads_info = any(t.schema_name == "information_schema" for t in e.tables)
        vis = [v for v in seen if v.role == e.user and (not e.schemas
                                                         or v.schema_name in e.schemas)]
        if not reads_info or not vis:
            continue
        hidden = sum(v.pg_class - v.visible for v in vis)
        if hidden:
            for_.append(f"{where}: {e.user} asked information_schema, which shows that role "
                        f"{sum(v.visible for v in vis)} of the {sum(v.pg_class for v in vis)} "
                        "relations pg_class holds there (it holds no privilege on the rest)")
        else:
            against.append(f"{where}: {e.user} asked information_schema and sees every "
                           "relation there")
    if not for_ and not against:
        return [], [], ("the logged queries' roles are unknown or not information_schema "
                        "queries")
    return for_, against, None


def _wrong_database(ctx: Context, ids: dict[str, Finding], timeline: list[TimelineEntry]
                    ) -> Weighed:
    db = ctx.bundle.identity.current_database if ctx.bundle.identity else None
    found = _catalog_queries(ctx, timeline)
    if found is None:
        return [], [], NO_LINE
    queries = [e for e in found if e.database is not None]
    if db is None or not queries:
        return [], [], NO_QUERY + ("" if queries or not found else
                                   "; the log's lines do not name their database")
    elsewhere = [e for e in queries if e.database != db]
    here = [e for e in queries if e.database == db]
    for_ = [f"server log {e.time:%Y-%m-%d %H:%M:%S} UTC [{e.source}]: {e.user or '?'} listed "
            f"tables in database {e.database}, not {db}" for e in elsewhere[:5]]
    against = [f"server log {e.time:%Y-%m-%d %H:%M:%S} UTC [{e.source}]: {e.user or '?'} "
               f"listed tables in {db} itself" for e in here[:5]]
    return for_, against, None


HYPOTHESES: tuple[Spec, ...] = (
    Spec("records_deleted", "Migration records were deleted from django_migrations",
         ("django_migrations", "migration record", "records"), _records_deleted),
    Spec("never_recorded", "The schema was created without recording its migrations",
         ("--fake", "fake", "never recorded", "raw sql"), _never_recorded),
    Spec("tables_dropped", "Tables were dropped", ("drop table", "dropped"), _tables_dropped),
    Spec("rows_deleted", "Rows were deleted from tables that still exist",
         ("delete", "truncate"), _rows_deleted),
    Spec("dangling_reference", "A migration references a model that nothing creates",
         ("does not exist", "nodenotfound", "cannot be resolved", "lazy reference"), _dangling),
    Spec("query_blind", "A script saw 'no tables' because of its query, not because tables "
         "were gone", ("information_schema", *SCRIPT_WORDS), _query_blind),
    Spec("wrong_database", "The script ran against another database or branch",
         (*SCRIPT_WORDS, "database", "branch"), _wrong_database),
)


def _verdict(for_: list[str], against: list[str]) -> str:
    if for_ and not against:
        return "supported"
    if against and not for_:
        return "contradicted"
    return "undecided"


def build_hypotheses(ctx: Context, findings: list[Finding],
                     timeline: list[TimelineEntry]) -> list[Hypothesis]:
    ids = {f.id: f for f in findings}
    responder = [e for e in timeline if e.source.startswith("timeline file")]
    out = []
    for spec in HYPOTHESES:
        for_, against, needs = spec.weigh(ctx, ids, timeline)
        reported = [f"{e.time:%Y-%m-%d %H:%M} UTC: {e.event}" for e in responder
                    if any(k in e.event.lower() for k in spec.keywords)]
        verdict = _verdict(for_, against)
        out.append(Hypothesis(id=spec.id, title=_words(ctx, spec.title), verdict=verdict,
                              evidence_for=for_, evidence_against=against, reported=reported,
                              would_decide=_words(ctx, needs) if verdict == "undecided"
                              and needs is not None else None))
    return out


def _words(ctx: Context, text: str) -> str:
    """A hypothesis in the project's framework's words (Django's are the ones written)."""
    if ctx.fw.key == "django":
        return text
    text = text.replace("django_migrations", ctx.fw.tracker).replace("migrate --fake",
                                                                       ctx.fw.fake)
    if ctx.fw.key == "alembic":
        text = text.replace("Migration records were", "Migration records (Alembic's heads) were")
    return text.replace("its migrations", f"its {ctx.fw.unit}s")


def _was_applied(ctx: Context, key: tuple[str, str]) -> bool:
    assert ctx.rec is not None
    st = next((s for s in ctx.rec.statuses if (s.app, s.name) == key), None)
    return st is not None and (st.recorded or st.state in (
        "schema_present_unrecorded", "unverifiable_unrecorded"))
