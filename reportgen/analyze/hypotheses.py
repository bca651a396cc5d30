"""Root-cause hypotheses: a fixed, documented set, each weighed only by machine evidence.

Every report weighs the same six hypotheses. Each lists the machine evidence that can support
or contradict it (the catalog, the statistics, the server log, the reconciliation of migration
files with records, a baseline), and nothing else decides it. A line of the responder's
timeline may mention one (generic keywords below): it is shown as "reported by the responder",
never counted as evidence. The verdict is SUPPORTED (evidence for, none against), CONTRADICTED
(evidence against, none for) or UNDECIDED (both, or neither: the honest answer when the
machine evidence is missing).

- records_deleted: migration records were deleted. For: deletions counted on
  django_migrations (statistics), records gone since the baseline, a logged DELETE/TRUNCATE of
  it. Against: records missing while no deletion was counted; no record missing at all.
- never_recorded: the schema was created without recording its migrations. For: records
  missing with no deletion counted, logged or seen against a baseline; more records missing
  than were deleted (then both sides hold: UNDECIDED). Against: any such deletion; no record
  missing.
- tables_dropped: tables were dropped. For: tables created by recorded migrations absent,
  tables gone since the baseline, a logged DROP TABLE of an absent table. Against: every table
  the migrations create is present; every baseline table present.
- rows_deleted: rows were deleted from tables that still exist. For: tables emptied per the
  statistics, rows gone since the baseline, a logged DELETE/TRUNCATE. Against: exact counts in
  the baseline and now show no table with fewer rows.
- dangling_reference: a migration references a model nothing creates. For: the reconciliation
  finds one. Against: the migration files were read and no reference dangles.
- query_blind: a script saw "no tables" because of its query (privileges, information_schema),
  not because tables were gone. For: information_schema shows the role fewer relations than
  pg_catalog. Against: it shows every relation pg_catalog has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reportgen.analyze.context import Context
from reportgen.analyze.model import Finding, Hypothesis, TimelineEntry
from reportgen.analyze.rules import django_migrations_relation


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    keywords: tuple[str, ...]  # generic words that make a responder's line relevant
    weigh: Callable[[Context, dict[str, Finding]], tuple[list[str], list[str]]]


def _deletes_counted(ctx: Context) -> int | None:
    """Rows deleted from django_migrations per the statistics (None: not known)."""
    rel = django_migrations_relation(ctx)
    return rel.deleted_tuples if rel is not None else None


def _logged(ctx: Context, kinds: tuple[str, ...], table: str | None = None) -> list[str]:
    log = ctx.bundle.server_log
    if log is None:
        return []
    return [f"server log {e.time:%Y-%m-%d %H:%M:%S} UTC: {e.kind} {e.statement[:120]} "
            f"[{e.source}]" for e in log.events if e.kind in kinds
            and (table is None or any(t.name == table for t in e.tables))]


def _ev(ids: dict[str, Finding], *names: str) -> list[str]:
    return [e for n in names if n in ids for e in ids[n].evidence]


def _records_deleted(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    deletes = _deletes_counted(ctx)
    for_ = _ev(ids, "migration.records_removed_since_baseline")
    for_ += _logged(ctx, ("DELETE", "DELETE without WHERE", "TRUNCATE"), "django_migrations")
    if deletes:
        for_.append(f"statistics: {deletes} row(s) deleted from django_migrations since they "
                    "were last reset")
    against: list[str] = []
    if "migration.records_missing" not in ids and ctx.rec is not None:
        against.append("reconciliation: no migration whose schema is present lacks its record")
    elif deletes == 0 and not for_:
        against.append("statistics: no row deleted from django_migrations since they were "
                       "last reset (a reset since would hide one)")
    return for_, against


def _never_recorded(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    deleted, _ = _records_deleted(ctx, ids)
    if "migration.records_missing" not in ids:
        return [], (["reconciliation: no migration whose schema is present lacks its record"]
                    if ctx.rec is not None else [])
    missing = sum(1 for s in ids["migration.records_missing"].subjects if "." in s)
    counted = _deletes_counted(ctx)
    removed = len(ids["migration.records_removed_since_baseline"].subjects) \
        if "migration.records_removed_since_baseline" in ids else 0
    explained = max(counted or 0, removed)
    if deleted and explained and explained < missing:
        # More records missing than were ever deleted: deletion explains only some of them.
        gap = missing - explained
        return [f"{missing} record(s) missing but only {explained} deleted: at least {gap} "
                f"{'was' if gap == 1 else 'were'} never written"], deleted
    if deleted:
        return [], deleted
    if counted == 0:
        return ["schema present, records missing, and no row deleted from django_migrations "
                "per the statistics", *_ev(ids, "migration.records_missing")[:2]], []
    return [], []


def _tables_dropped(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    for_ = _ev(ids, "data.tables_missing", "data.tables_dropped_since_baseline",
               "data.tables_dropped_logged")
    against: list[str] = []
    if ctx.rec is not None and ctx.live is not None and "data.tables_missing" not in ids:
        live = ctx.live
        expected = [t for t, key in ctx.rec.created_by.items()
                    if t in ctx.rec.expected_tables and _was_applied(ctx, key)]
        if expected and all(t in live for t in expected):
            against.append(f"all {len(expected)} tables created by recorded or "
                           "schema-present migrations exist (pg_class)")
    if ctx.baseline is not None and "data.tables_dropped_since_baseline" not in ids:
        against.append("baseline: every table it lists is present")
    return for_, against


def _rows_deleted(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    for_ = _ev(ids, "data.tables_emptied", "data.rows_lost_since_baseline",
               "data.row_estimates_dropped")
    for_ += [e for e in _logged(ctx, ("DELETE", "DELETE without WHERE", "TRUNCATE"))
             if "django_migrations" not in e]
    against: list[str] = []
    if ctx.baseline is not None and "data.rows_lost_since_baseline" not in ids:
        base, now = ctx.baseline.inventory, ctx.bundle.inventory
        counted = base is not None and now is not None and any(
            r.exact_rows is not None for r in base.relations) and any(
            r.exact_rows is not None for r in now.relations)
        if counted:
            against.append("exact counts in the baseline and now: no table has fewer rows")
    return for_, against


def _dangling(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    if "migration.dangling_reference" in ids:
        return _ev(ids, "migration.dangling_reference"), []
    if ctx.rec is not None:
        return [], ["reconciliation: every model a migration references is created by one"]
    return [], []


def _query_blind(ctx: Context, ids: dict[str, Finding]) -> tuple[list[str], list[str]]:
    if "visibility.information_schema_gap" in ids:
        return _ev(ids, "visibility.information_schema_gap"), []
    inv = ctx.bundle.inventory
    if inv is not None and inv.schema_counts:
        return [], ["information_schema shows this role every relation pg_catalog has"]
    return [], []


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
         "were gone", ("information_schema", "0 tables", "no tables"), _query_blind),
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
        for_, against = spec.weigh(ctx, ids)
        reported = [f"{e.time:%Y-%m-%d %H:%M} UTC: {e.event}" for e in responder
                    if any(k in e.event.lower() for k in spec.keywords)]
        out.append(Hypothesis(id=spec.id, title=spec.title, verdict=_verdict(for_, against),
                              evidence_for=for_, evidence_against=against, reported=reported))
    return out


def _was_applied(ctx: Context, key: tuple[str, str]) -> bool:
    assert ctx.rec is not None
    st = next((s for s in ctx.rec.statuses if (s.app, s.name) == key), None)
    return st is not None and (st.recorded or st.state in (
        "schema_present_unrecorded", "unverifiable_unrecorded"))
