"""Schema per tenant: each schema reconciled against the migrations of the apps that apply
there, and one row per tenant saying what state it is in and what puts it right.

django-tenants migrates every schema with the whole migration graph and records every
migration in that schema's own django_migrations, but its router lets a migration touch a
schema only when its app is listed for it (SHARED_APPS for the shared schema, TENANT_APPS for
each tenant). So in each schema the migrations of the other apps are recorded and change
nothing: here they are reconciled as migrations with no schema effects, which is what they
are in that schema. Everything else is the one reconciliation every schema gets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reportgen.analyze.model import (
    VERDICTS,
    WORDS,
    Dimension,
    Finding,
    TenantMatrix,
    TenantRow,
)
from reportgen.analyze.reconcile import (
    Reconciliation,
    RecordHistory,
    fake_sql,
    label,
    plan_lines,
    reconcile,
)
from reportgen.bundle import Codebase, DjangoRecords, EvidenceBundle, Relation, Tenancy
from reportgen.migration_graph import Key
from reportgen.quoting import python_literal, shell_command


@dataclass(frozen=True)
class Layout:
    tenancy: Tenancy
    public: str
    tenants: list[str] | None  # None: the tenant table could not be read
    error: str | None  # why nothing in a tenant is judged


def layout(bundle: EvidenceBundle) -> Layout | None:
    cb = bundle.codebase
    if cb is None or cb.tenancy is None or bundle.migrations is None:
        return None
    t = cb.tenancy
    st = bundle.migrations.schemas
    table = st.tenant_table if st is not None else None
    tenants = table.schema_names if table is not None else None
    error = t.error
    if error is None and st is None:
        error = "the schemas' django_migrations tables were not collected"
    if error is None and table is None:
        error = "the settings name no tenant model table"
    if error is None and tenants is None:
        error = f"the tenant table {table.table} was not read: {table.error}"  # type: ignore[union-attr]
    if error is None and st is not None and st.truncated:
        error = "more django_migrations tables than reportgen reads"
    return Layout(tenancy=t, public=t.public_schema, tenants=tenants, error=error)


def view(bundle: EvidenceBundle, schema: str, apps: set[str], records: DjangoRecords,
         relations: list[Relation], cache: dict[frozenset[str], Codebase]) -> EvidenceBundle:
    """The bundle as one schema sees it: its own tracker, its own relations, and the
    migrations of apps the router keeps out of it as migrations that change nothing."""
    cb = bundle.codebase
    assert cb is not None and bundle.migrations is not None and bundle.inventory is not None
    key = frozenset(apps)
    if key not in cache:
        cache[key] = cb.model_copy(update={"migrations": [
            m if m.app in apps else m.model_copy(update={
                "creates": [], "removes": [], "unverifiable": [], "partial": False,
                "unresolved": [], "mentions": None, "state_error": None, "noop": True})
            for m in cb.migrations]})
    return bundle.model_copy(update={
        "codebase": cache[key],
        "migrations": bundle.migrations.model_copy(update={"django": records}),
        "inventory": bundle.inventory.model_copy(update={"relations": relations})})


def apps_for(t: Tenancy, schema: str) -> set[str]:
    return set(t.shared_apps if schema == t.public_schema else t.tenant_apps)


def public_view(bundle: EvidenceBundle) -> EvidenceBundle:
    """The bundle reconciled for the shared schema: the tenant apps' migrations recorded
    there change nothing in it. The bundle itself when no tenant layout was read whole."""
    lay = layout(bundle)
    if lay is None or lay.error is not None or bundle.inventory is None \
            or bundle.migrations is None:
        return bundle
    rels = [r for r in bundle.inventory.relations if r.schema_name == lay.public]
    return view(bundle, lay.public, apps_for(lay.tenancy, lay.public),
                bundle.migrations.django, rels, {})


def tenant_matrix(bundle: EvidenceBundle, counters_since: datetime | None,
                  baseline: EvidenceBundle | None = None,
                  incident_start: datetime | None = None) -> TenantMatrix | None:
    """Every tenant schema judged on its own. ``baseline``: an earlier bundle of the same
    database; each tenant's records in it (its own django_migrations then) say which records
    existed, as for the shared schema."""
    lay = layout(bundle)
    if lay is None or bundle.migrations is None or bundle.inventory is None:
        return None
    st = bundle.migrations.schemas
    trackers = {d.schema_name: d for d in st.trackers if d.schema_name is not None} \
        if st is not None else {}
    schemas = set(st.schemas) if st is not None else set()
    if lay.error is not None:
        unjudged = [TenantRow(schema_name=s, tenant=None, schema_exists=True, tracker="present",
                          recorded=len(trackers[s].records), verdict="not_judged",
                          severity="LOW", detail=f"not judged: {lay.error}")
                for s in sorted(trackers, key=str.encode) if s != lay.public]
        return TenantMatrix(router=lay.tenancy.library, public_schema=lay.public,
                            tenant_table=None, error=lay.error, rows=unjudged,
                            tenant_apps=lay.tenancy.tenant_apps,
                            shared_apps=lay.tenancy.shared_apps)
    tenants = set(lay.tenants or []) - {lay.public}
    by_schema: dict[str, list[Relation]] = {}
    for r in bundle.inventory.relations:
        by_schema.setdefault(r.schema_name, []).append(r)
    apps = set(lay.tenancy.tenant_apps)
    before = baseline.migrations.schemas if baseline is not None and \
        baseline.migrations is not None else None
    base_records = {d.schema_name: frozenset((r.app, r.name) for r in d.records)
                    for d in (before.trackers if before is not None else [])
                    if d.readable and d.schema_name is not None}
    history = RecordHistory(counters_since=counters_since, incident_start=incident_start,
                            baseline_taken=baseline.collection.started_at
                            if baseline is not None else None)
    cache: dict[frozenset[str], Codebase] = {}
    memo: dict[tuple[object, ...], Reconciliation | None] = {}
    rows: list[TenantRow] = []
    candidates = tenants | {s for s in trackers if s != lay.public}
    for schema in sorted(candidates, key=str.encode):
        if schema not in schemas:
            rows.append(TenantRow(
                schema_name=schema, tenant=True, schema_exists=False, tracker="absent", recorded=0,
                verdict="schema_absent", severity=VERDICTS["schema_absent"],
                detail=f"the tenant table lists {schema}, and the database has no such schema: "
                "its tables and rows are not in this database (dropped, or never created)",
                fix=["Restore the schema from a backup or a point-in-time copy (pg_restore "
                     f"--schema {shell_command(schema)}), or delete the tenant row if the "
                     "tenant was removed on purpose."]))
            continue
        rec_rows = trackers.get(schema) or DjangoRecords(table_present=False)
        rels = by_schema.get(schema, [])
        # Two schemas with the same records and the same relations have the same
        # reconciliation: computed once (thousands of identical tenants are common).
        sig = (schema in tenants, rec_rows.table_present, rec_rows.readable,
               tuple((r.app, r.name, r.applied) for r in rec_rows.records),
               rec_rows.rewritten, base_records.get(schema),
               _relations_signature(rels))
        if sig not in memo:
            # A baseline taken without this schema's tracker says nothing of its records.
            memo[sig] = _reconcile(bundle, schema, schema in tenants, apps, rec_rows, rels,
                                   cache, replace(history, baseline=base_records.get(schema)))
        rows.append(_row(memo[sig], schema, schema in tenants, apps, rec_rows))
    return TenantMatrix(router=lay.tenancy.library, public_schema=lay.public,
                        tenant_table=st.tenant_table.table if st and st.tenant_table else None,
                        rows=rows, tenant_apps=lay.tenancy.tenant_apps,
                        shared_apps=lay.tenancy.shared_apps)


def _relations_signature(rels: list[Relation]) -> tuple[object, ...]:
    """What reconciliation reads of a schema's relations (names, columns, keys, indexes, and
    the tracker's delete counter), without the schema's name."""
    return tuple((r.name, r.kind, tuple((c.name, c.type) for c in r.columns),
                  tuple(r.indexes), tuple(r.constraints),
                  tuple((tuple(f.columns), f.ref_table, tuple(f.ref_columns))
                        for f in r.foreign_keys),
                  tuple((tuple(k.columns), k.unique, k.primary, k.partial)
                        for k in r.index_keys or []),
                  r.index_keys is None, tuple(r.primary_key),
                  r.deleted_tuples if r.name == "django_migrations" else None)
                 for r in rels)


def _reconcile(bundle: EvidenceBundle, schema: str, is_tenant: bool, apps: set[str],
               records: DjangoRecords, rels: list[Relation],
               cache: dict[frozenset[str], Codebase],
               history: RecordHistory) -> Reconciliation | None:
    if not is_tenant or (records.table_present and not records.readable):
        return None
    v = view(bundle, schema, apps, records, rels, cache)
    dm = next((r for r in rels if r.name == "django_migrations"), None)
    return reconcile(v, replace(history, deletes=dm.deleted_tuples if dm else None,
                                rewritten=records.rewritten))


def _row(rec: Reconciliation | None, schema: str, is_tenant: bool, apps: set[str],
         records: DjangoRecords) -> TenantRow:
    tracker = "present" if records.table_present else "absent"
    base = {"schema_name": schema, "tenant": is_tenant, "schema_exists": True,
            "recorded": len(records.records)}
    if records.table_present and not records.readable:
        return TenantRow(**base, tracker="unreadable", verdict="unreadable",
                         severity=VERDICTS["unreadable"],
                         detail=f"its django_migrations could not be read: {records.error}")
    if not is_tenant or rec is None:
        return TenantRow(
            **base, tracker=tracker, verdict="not_a_tenant", severity=VERDICTS["not_a_tenant"],
            detail="a schema with its own django_migrations that the tenant table does not "
            "list: migrate_schemas never migrates it (a deleted tenant's schema kept, or a "
            "tenant row lost)",
            fix=["Find whose schema it is; if its tenant row was lost, restore the row (the "
                 "next migrate_schemas then migrates it); if the tenant was deleted, archive "
                 f"it (pg_dump --schema {shell_command(schema)}) before dropping it."])
    return _judge(rec, base, tracker, schema, apps)


def _judge(rec: Reconciliation, base: dict[str, object], tracker: str, schema: str,
           apps: set[str]) -> TenantRow:
    by: dict[str, list[Key]] = {}
    for s in rec.statuses:
        state = s.state
        if s.app not in apps and s.in_code and not s.recorded:
            # The router keeps it out of this schema: unrecorded, it is just not run yet
            # (migrate_schemas records it, changing nothing here).
            state = "pending"
        by.setdefault(state, []).append((s.app, s.name))
    own = [k for k in rec.order if k[0] in apps]
    recorded_own = sum(1 for s in rec.statuses if s.recorded and s.in_code and s.app in apps)
    counts = {"expected": len(own), "recorded_own": recorded_own}
    missing = _absent([e for s in rec.statuses for e in s.missing
                       if s.state in ("applied_schema_missing", "schema_lost_unrecorded",
                                      "partially_applied")])
    plan = [(a, n) for a, n in rec.rows(rec.fake_plan)]
    if by.get("applied_schema_missing") or by.get("schema_lost_unrecorded"):
        keys = by.get("applied_schema_missing", []) + by.get("schema_lost_unrecorded", [])
        return TenantRow(
            **base, **counts, tracker=tracker, verdict="schema_missing",
            severity=VERDICTS["schema_missing"], missing=missing[:50],
            migrations=[label(k) for k in keys],
            detail=f"{len(keys)} migration(s) ran here and their schema is gone: "
            + ", ".join(missing[:6]) + (" …" if len(missing) > 6 else ""),
            fix=[f"Restore what is missing in {schema} from a backup or a point-in-time copy "
                 "(table by table: pg_restore --schema "
                 f"{shell_command(schema)} --table …); do not re-run or fake migrations over "
                 "it."])
    pending = by.get("pending", [])
    open_ = [k for k in rec.order if k in rec.fake_blocked and k not in pending
             and k not in by.get("pending_or_lost", [])]
    unseen = {(st.app, st.name): "; ".join(st.opaque)
              or rec.fake_blocked.get((st.app, st.name), "") for st in rec.statuses}
    decide = [f"Decide {', '.join(label(k) for k in open_)} (the schema cannot show whether "
              "they ran: " + "; ".join(f"{label(k)}: {unseen[k]}" for k in open_[:3])
              + (" …" if len(open_) > 3 else "") + ")"
              + ". Only if they ran here (a backup or the deploy log shows it), record "
              "them the same way:", _record([(a, n) for a, n in open_], schema)
              ] if open_ else []
    if tracker == "absent":
        unsure = by.get("pending_or_lost", [])
        fix = [_record(plan, schema)] if plan else []
        if pending and not open_ and not unsure:
            fix.append(_migrate(schema))
        return TenantRow(
            **base, **counts, tracker=tracker, verdict="tracker_missing",
            severity=VERDICTS["tracker_missing"], fix_plan=plan,
            undecided=[label(k) for k in open_ + unsure], decide=decide,
            detail=f"no django_migrations in {schema}: search_path falls back to the shared "
            f"schema's and its migrations are not tracked here; {len(plan)} migration(s) "
            "verified present by their schema"
            + (f", {len(open_) + len(unsure)} not verifiable" if open_ or unsure else "")
            + ". Running migrate_schemas for it as it is would create an empty "
            "django_migrations and run every migration over the tables already there.",
            fix=fix or ["Nothing can be recorded safely: see the decision."])
    if by.get("schema_present_unrecorded"):
        keys = by["schema_present_unrecorded"]
        fix = [_record(plan, schema)] if plan else []
        if pending and not open_:
            fix.append(_migrate(schema))
        return TenantRow(
            **base, **counts, tracker=tracker, verdict="records_missing",
            severity=VERDICTS["records_missing"], migrations=[label(k) for k in keys],
            fix_plan=plan, fix_sql=fake_sql(list(plan), schema) if plan else None,
            undecided=[label(k) for k in open_], decide=decide,
            detail=f"{len(keys)} migration(s) ran here (their schema is present) and have "
            "no record: migrate_schemas would run them again and fail"
            + (f"; {len(open_)} more cannot be verified from the schema" if open_ else ""),
            fix=fix or ["Nothing can be recorded safely: see the decision."])
    if by.get("partially_applied") or by.get("unverifiable_unrecorded"):
        keys = by.get("partially_applied", []) + by.get("unverifiable_unrecorded", [])
        return TenantRow(
            **base, **counts, tracker=tracker, verdict="unverifiable",
            severity=VERDICTS["unverifiable"], migrations=[label(k) for k in keys],
            detail=f"{len(keys)} unrecorded migration(s) whose effects cannot be read from "
            "the schema (partly present, or RunPython/RunSQL only)",
            fix=[f"Check {', '.join(label(k) for k in keys[:3])} by hand in {schema} before "
                 "recording or running them."])
    pending, unsure = by.get("pending", []), by.get("pending_or_lost", [])
    if pending or unsure:
        keys = unsure + pending
        at = _stopped_at(rec, apps)
        mine = sum(1 for k in keys if k[0] in apps)
        verdict = "behind_or_lost" if unsure else "behind"
        why = ("no row can have been removed from its django_migrations since (activity "
               "counters)" if not unsure else "whether a record was removed cannot be told "
               "(activity counters do not cover the time): applied and lost is possible")
        return TenantRow(
            **base, **counts, tracker=tracker, verdict=verdict, severity=VERDICTS[verdict],
            stopped_at=at, migrations=[label(k) for k in rec.order if k in set(keys)],
            detail=f"{mine} migration(s) of its apps not applied here"
            + (f" (stopped after {at})" if at else "")
            + (f", and {len(keys) - mine} of apps kept out of it (they change nothing here)"
               if len(keys) > mine else "") + f"; {why}",
            fix=[_migrate(schema)] if not unsure else [
                f"Check whether the tables of {', '.join(label(k) for k in keys[:3])} held "
                f"data in {schema} (a backup); if not, run: {_migrate(schema)}"])
    ghosts = by.get("ghost_record", [])
    if ghosts:
        return TenantRow(
            **base, **counts, tracker=tracker, verdict="ghost_records",
            severity=VERDICTS["ghost_records"], migrations=[label(k) for k in ghosts],
            detail=f"{len(ghosts)} record(s) of migrations no file has",
            fix=["Find the branch or release the records come from before changing them."])
    return TenantRow(**base, **counts, tracker=tracker, verdict="ok", severity="LOW",
                     stopped_at=_stopped_at(rec, apps),
                     detail="every migration of its apps recorded and its schema present")


def _absent(effects: list[str]) -> list[str]:
    """Missing effects, a missing table first and for itself alone (not also each of its
    columns, keys and indexes)."""
    tables = {e[len("table "):] for e in effects if e.startswith("table ")}

    def of_missing_table(e: str) -> bool:
        return any(f" {t}." in e or f" {t}(" in e or e.endswith(f" on {t}") for t in tables)

    return sorted({e for e in effects if e.startswith("table ") or not of_missing_table(e)},
                  key=lambda e: (not e.startswith("table "), effects.index(e)))


def _stopped_at(rec: Reconciliation, apps: set[str]) -> str | None:
    done = [k for k in rec.order if k[0] in apps and any(
        s.recorded and (s.app, s.name) == k for s in rec.statuses)]
    return label(done[-1]) if done else None


def _migrate(schema: str) -> str:
    return shell_command("python", "manage.py", "migrate_schemas", f"--schema={schema}")


def _record(plan: list[tuple[str, str]], schema: str) -> str:
    """Django's MigrationRecorder on the tenant's schema alone (django-tenants'
    set_schema without public on the path: the records land in that schema's
    django_migrations, which the recorder creates when it is missing). One migration per
    line, none indented: copied out of a PDF it runs as printed."""
    code = "\n".join([
        "from django.db import connection",
        "from django.db.migrations.recorder import MigrationRecorder",
        f"connection.set_schema({python_literal(schema)}, include_public=False)",
        "recorder = MigrationRecorder(connection)",
        "for app, name in [",
        *plan_lines(plan),
        "]: recorder.record_applied(app, name)"])
    return shell_command("python", "manage.py", "shell", "-c", code)


ADVICE = {
    "schema_absent": "Restore each schema from a backup or a point-in-time copy, or delete the "
    "tenant's row if it was removed on purpose (tenant matrix, section 5).",
    "schema_missing": "Restore what each tenant lost from a backup or a point-in-time copy; do "
    "not re-run or fake its migrations over it (tenant matrix, section 5).",
    "records_missing": "Record, on each tenant's schema alone, the migrations its schema shows "
    "ran: the tenant matrix's commands, all of them in the tenant repair file (section 10).",
    "tracker_missing": "Record, on each tenant's schema alone, the migrations its schema shows "
    "ran (the recorder creates its django_migrations): the tenant repair file (section 10).",
    "behind": "Run `python manage.py migrate_schemas --schema=S` for each (the tenant repair "
    "file, section 10).",
}


def tenant_findings(matrix: TenantMatrix | None) -> list[Finding]:
    """One finding per verdict that needs action, naming its tenants."""
    if matrix is None:
        return []
    out: list[Finding] = []
    if matrix.error is not None:
        out.append(Finding(
            id="tenant.layout_unread", severity="MEDIUM", dimension="migration",
            title="Tenant schemas not judged: the tenant layout could not be read",
            subjects=[r.schema_name for r in matrix.rows][:50], evidence=[matrix.error],
            explanation=f"{matrix.router} spreads apps over schemas, but {matrix.error}. "
            "Nothing in a tenant schema is called missing or intact.",
            recommendation="Make the tenant table readable to the collecting role (SELECT) "
            "and collect again."))
    dims: dict[str, Dimension] = {"schema_absent": "data", "schema_missing": "data"}
    for verdict, severity in VERDICTS.items():
        if verdict in ("ok", "not_judged"):
            continue
        rows = [r for r in matrix.rows if r.verdict == verdict]
        if not rows:
            continue
        out.append(Finding(
            id=f"tenant.{verdict}", severity=severity,
            dimension=dims.get(verdict, "migration"),
            title=f"{len(rows)} tenant schema(s): {WORDS[verdict]}",
            subjects=[r.schema_name for r in rows][:200],
            evidence=[f"{r.schema_name}: {r.detail}" for r in rows[:10]]
            + ([f"… and {len(rows) - 10} more (tenant matrix)"] if len(rows) > 10 else []),
            explanation=rows[0].detail if len(rows) == 1 else
            f"{len(rows)} schemas, each judged against the migrations of the tenant apps "
            f"({', '.join(matrix.tenant_apps[:8])}); see the tenant matrix.",
            recommendation=ADVICE.get(verdict, "See the tenant matrix (section 5).")))
    return out
