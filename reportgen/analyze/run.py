"""The analyzer's one entry point: bundle (+ baseline, + timeline) → Assessment, pure."""

from __future__ import annotations

from datetime import datetime

from reportgen import __version__
from reportgen.analyze.context import Context, build_context
from reportgen.analyze.diff import BundleDiff, diff_bundles
from reportgen.analyze.framework import tracked
from reportgen.analyze.hypotheses import build_hypotheses
from reportgen.analyze.model import (
    DIMENSIONS,
    AppSummary,
    Assessment,
    DanglingReferenceNote,
    DataLoss,
    Finding,
    TimelineEntry,
    level_rank,
)
from reportgen.analyze.recovery import build_action_plan, build_recovery
from reportgen.analyze.rules import RULES, deploy_blocked, no_baseline
from reportgen.analyze.tenants import tenant_findings
from reportgen.analyze.timeline import build_timeline
from reportgen.bundle import EvidenceBundle
from reportgen.constants import Level

__all__ = ["analyze"]


def analyze(bundle: EvidenceBundle, baseline: EvidenceBundle | None = None,
            timeline: list[TimelineEntry] | None = None,
            incident_start: datetime | None = None) -> Assessment:
    """Findings, risks, verdicts, timeline, hypotheses, recovery options and the plan.
    ``incident_start``: when the responder says the incident began (else it is read from
    the timeline and the server log)."""
    ctx = build_context(bundle, baseline, timeline, incident_start)
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(ctx))
    diff = diff_bundles(baseline, bundle) if baseline is not None else None
    if diff is not None:
        findings.extend(diff.findings())
    findings.extend(tenant_findings(ctx.tenants))
    findings.extend(deploy_blocked(ctx, findings))
    findings.extend(no_baseline(ctx, findings))
    findings.sort(key=lambda f: (-level_rank(f.severity), DIMENSIONS.index(f.dimension), f.id))

    risks: dict[str, Level] = {}
    for dim in DIMENSIONS:
        levels = [f.severity for f in findings if f.dimension == dim]
        risks[dim] = max(levels, key=level_rank) if levels else "LOW"
    data_loss, basis, why = _data_loss(ctx, findings, diff)
    events = build_timeline(bundle, timeline or [], ctx.log_events)
    options = build_recovery(ctx, findings, events)
    return Assessment(
        tool_version=__version__, bundle_digest=bundle.digest,
        baseline_digest=baseline.digest if baseline is not None else None,
        baseline_taken_at=baseline.collection.started_at if baseline is not None else None,
        collected_at=bundle.collection.started_at,
        status=_status(ctx, findings, data_loss),
        risks=risks,
        data_loss=data_loss, data_loss_basis=basis, data_loss_explanation=why,
        findings=findings, apps=_apps(ctx), migrations=ctx.rec.statuses if ctx.rec else [],
        timeline=events, hypotheses=build_hypotheses(ctx, findings, events),
        recovery_options=options, action_plan=build_action_plan(ctx, findings, options),
        evidence_gaps=_gaps(ctx), changes=diff.as_model() if diff is not None else None,
        reconciliation_note=_reconciliation_note(ctx), relation_apps=ctx.app_of,
        dangling_references=[
            DanglingReferenceNote(migration=f"{d.migration[0]}.{d.migration[1]}", field=d.field,
                                  target=d.target, expected_table=d.expected_table,
                                  similar=list(d.similar))
            for d in (ctx.rec.dangling_references if ctx.rec else [])],
        tenants=ctx.tenants)


def _reconciliation_note(ctx: Context) -> str | None:
    rec, cb = ctx.rec, ctx.bundle.codebase
    if rec is None or cb is None:
        return None
    if cb.framework == "alembic":
        how = ("Each revision's effects are what its own SQL creates and removes: Alembic's "
               "offline mode wrote the SQL through the project's env.py, PostgreSQL's grammar "
               "(pglast) read it; revisions in the order Alembic's revision graph applies them")
        return (f"{how}; every table, column, foreign key, unique key and index it creates was "
                "checked against pg_catalog. alembic_version records heads only: a revision "
                "counts as recorded when it is at or below one. A revision that ran is told "
                "by its own schema or by what a later revision built on it (`alembic upgrade` "
                "applies revisions in order); one whose schema is absent above the recorded "
                "heads is pending, or was applied and lost with its record.")
    if cb.framework == "sqitch":
        return (f"Each change's effects are what its deploy script ({cb.config}'s "
                "deploy/<change>.sql) creates and removes, read with PostgreSQL's grammar "
                "(pglast), in plan order; every table, column, foreign key, unique key and "
                "index it creates was checked against pg_catalog. sqitch's registry "
                "(sqitch.changes) holds a row per deployed change of the project. A change "
                "that ran is told by its own schema or by what a later one built on it "
                "(`sqitch deploy` follows the plan); a script that does not wrap itself in "
                "BEGIN and COMMIT is not atomic (psql runs it statement by statement).")
    if cb.framework in ("golang-migrate", "flyway", "prisma"):
        how = (f"Each migration's effects are what its SQL file ({cb.config}) creates and "
               "removes, read with PostgreSQL's grammar (pglast), in the order "
               f"{ctx.fw.name} applies them")
        what = {"golang-migrate": "schema_migrations holds one version: every migration at or "
                "below it counts as recorded, a dirty one as in doubt",
                "prisma": "_prisma_migrations holds a row per migration: finished and not "
                "rolled back counts as recorded, started and not finished as failed",
                "flyway": "flyway_schema_history holds a row per run: successful counts as "
                "recorded, failed as failed, and a BASELINE row records every version at or "
                "below it"}[cb.framework]
        return (f"{how}; every table, column, foreign key, unique key and index it creates "
                f"was checked against pg_catalog. {what}. A migration that ran is told by its "
                f"own schema or by what a later one built on it (`{ctx.fw.apply}` applies "
                "them in order, each file as one transaction unless it commits on its own); "
                "a failed run is judged by what of it is present.")
    if cb.method.startswith("Django"):
        how = ("Each migration's effects are the difference between Django's own states before "
               "and after it, in the order `migrate` applies them")
    else:
        how = ("Each migration file was replayed in dependency order (static scan: custom "
               "field classes and RunPython/RunSQL are not modelled)")
    checked = ("every table, column, foreign key, unique key and index it creates (by name "
               "where the migration names it, by its columns where Django does) was checked "
               "against pg_catalog")
    out = f"{how}; {checked}."
    if rec.unchecked_kinds:
        out += (" Not checked, as this bundle does not hold them: "
                + ", ".join(k.replace("_", " ") for k in rec.unchecked_kinds) + " keys.")
    out += (" A migration that ran is told by its own schema or by what is built on it "
            "(`migrate` applies dependencies first); one whose schema is absent is pending only "
            "when the activity counters show its record never existed.")
    return out


def _data_loss(ctx: Context, findings: list[Finding],
               diff: BundleDiff | None) -> tuple[DataLoss, str, str]:
    ids = {f.id: f for f in findings}
    if ctx.bundle.inventory is None:
        return "unknown", "structure", "The inventory could not be collected."
    if "data.tables_dropped_logged" in ids:
        f = ids["data.tables_dropped_logged"]
        return ("confirmed", "server_log",
                f"The server log shows DROP TABLE for {', '.join(f.subjects)}, and pg_class "
                "no longer has them.")
    if diff is not None and ctx.baseline is not None:
        taken = ctx.baseline.collection.started_at
        since = f"Compared with the baseline taken {taken:%Y-%m-%d %H:%M:%S} UTC: "
        churn = ("; rows fell only in tables that remove rows by design (" + ", ".join(
            f"{r.table} {r.delta:+d}" for r in diff.churn_drops) + "), not counted as loss"
                 if diff.churn_drops else "")
        if diff.lost_tables or diff.lost_columns or diff.lost_rows:
            return "confirmed", "baseline", since + diff.loss_summary()
        if any(r.churn is None for r in diff.row_drops):
            n = sum(1 for r in diff.row_drops if r.churn is None)
            return ("suspected", "baseline",
                    f"{since}row estimates fell in {n} table(s); estimates are not counts.")
        if diff.row_evidence_complete:
            return ("none_detected", "baseline",
                    f"{since}no table or column is missing and no row count is lower (every "
                    f"table counted exactly on both sides){churn}.")
        return ("unknown", "baseline",
                f"{since}no table or column is missing, but row counts could not be compared "
                "for every table (" + diff.row_gap_summary() + f"){churn}.")
    missing = ids.get("data.tables_missing")
    if missing is not None and ctx.rec is not None and all(
            t in ctx.rec.existed for t in missing.subjects) and "data.columns_missing" not in ids:
        return ("confirmed", "structure",
                f"{', '.join(missing.subjects)} existed (a migration that ran created a foreign "
                "key to each) and pg_class no longer has them: tables and their rows are "
                "gone.")
    if missing is not None or "data.columns_missing" in ids:
        return ("suspected", "structure",
                "Tables or columns created by migrations that ran are missing; whether they "
                "held rows (or were ever created: a migration recorded with "
                + ctx.fw.fake
                + " looks the same) needs a baseline.")
    if "data.destructive_events_logged" in ids:
        return ("suspected", "server_log",
                "The server log shows destructive statements; without a baseline the rows "
                "they removed cannot be counted.")
    truncated = ids.get("data.tables_truncated")
    if truncated is not None:
        return ("confirmed", "statistics",
                f"The statistics show rows written to {', '.join(truncated.subjects)} and "
                "none deleted, and count(*) in the same read-only snapshot finds none: they "
                "were truncated.")
    if "data.destructive_statements" in ids or "data.tables_emptied" in ids:
        return ("suspected", "statistics",
                "The server's statistics point to removed rows (see the data findings); "
                "without a baseline they cannot be counted, nor told from a table's own "
                "cleanup.")
    lost = [f for f in findings if f.id in ("tenant.schema_missing", "tenant.schema_absent")]
    if lost:
        return ("suspected", "structure",
                "Tenant schemas are missing what their migrations created ("
                + "; ".join(f"{f.title}: {', '.join(f.subjects[:5])}" for f in lost)
                + "); whether it held rows is not known without a backup to compare with.")
    why = not_determined(ctx) if ctx.rec is not None else None
    if why:
        return ("unknown", "structure",
                f"Whether every table the migrations created is present is not determined "
                f"({why.lower()}); row-level loss is not excluded either: there is no baseline "
                "to compare rows with.")
    return ("unknown", "structure",
            "No table or column that migrations created is missing as far as the evidence "
            "shows; row-level loss is not excluded: there is no baseline to compare rows "
            "with.")


def _status(ctx: Context, findings: list[Finding], data_loss: str) -> str:
    ids = {f.id for f in findings}
    parts = [_tables_part(ctx, ids)]
    if "data.columns_missing" in ids or "data.columns_dropped_since_baseline" in ids:
        parts.append("COLUMNS MISSING")
    if "schema.recorded_but_missing" in ids and "data.tables_missing" not in ids:
        parts.append("SCHEMA DRIFT")
    bad = [r for r in ctx.tenants.rows if r.severity in ("HIGH", "CRITICAL")] \
        if ctx.tenants is not None else []
    if bad:
        parts.append(f"{len(bad)} TENANT SCHEMA(S) NEED ACTION")
    if "migration.records_missing" in ids:
        parts.append("MIGRATION RECORDS MISSING")
    elif "migration.inconsistent_history" in ids:
        parts.append("MIGRATION HISTORY INCONSISTENT")
    parts.append({"confirmed": "DATA LOSS CONFIRMED", "suspected": "DATA LOSS SUSPECTED",
                  "none_detected": "NO DATA LOSS DETECTED (vs. BASELINE)",
                  "unknown": "ROW-LEVEL LOSS NOT EXCLUDED"}[data_loss])
    if not ctx.bundle.complete:
        parts.append("EVIDENCE INCOMPLETE")
    return " — ".join(parts)


LOST_TABLES = ("data.tables_missing", "data.tables_dropped_since_baseline",
               "data.tables_dropped_logged")


def _tables_part(ctx: Context, ids: set[str]) -> str:
    """The headline's first part: whether tables are missing, intact, or not determined and
    why. Never INTACT over apps, schemas or migrations that were not (or could not be)
    checked."""
    b = ctx.bundle
    if b.inventory is None:
        return "INVENTORY UNAVAILABLE"
    if ids & set(LOST_TABLES):
        return "TABLES MISSING"
    if ctx.tenants is not None:
        lost = sum(1 for r in ctx.tenants.rows if r.verdict in ("schema_missing",
                                                                "schema_absent"))
        if lost:
            return f"SCHEMA MISSING IN {lost} TENANT(S)"
    n = len(b.inventory.relations)
    dj = tracked(b)
    if ctx.rec is None:
        if dj.table_present and not dj.readable:
            return f"{n} RELATIONS PRESENT (MIGRATION RECORDS NOT READABLE)"
        if dj.table_present and b.codebase is None:
            return f"{n} RELATIONS PRESENT (NO EXPECTED STATE: PASS --project)"
        return f"{n} RELATIONS PRESENT"
    why = not_determined(ctx)
    return f"TABLES NOT DETERMINED ({why})" if why else "TABLES INTACT"


def not_determined(ctx: Context) -> str | None:
    """Why the tables cannot be called intact, or None when every expected table was
    checked and is there."""
    rec = ctx.rec
    assert rec is not None
    if not rec.order:
        return ("NO REVISION FILES READ UNDER --project" if ctx.fw.key == "alembic"
                else "NO MIGRATION FILES FOUND UNDER --project")
    if rec.unverified_tables:
        return (f"{len(rec.unverified_tables)} ABSENT TABLE(S) A LATER {ctx.fw.unit.upper()} "
                "MAY HAVE DROPPED")
    unchecked = {st.app for st in rec.statuses if st.state == "recorded_not_in_scan"}
    if unchecked:
        return f"{len(unchecked)} APP(S) NOT CHECKED"
    unsure = [st for st in rec.statuses if st.state == "pending_or_lost"
              and st.app not in ctx.tenant_apps]
    if unsure:
        return f"{len(unsure)} {ctx.fw.unit.upper()}(S) PENDING OR LOST"
    if ctx.tenants is not None and ctx.tenants.error is not None:
        return f"{len(ctx.tenants.rows)} TENANT SCHEMA(S) NOT JUDGED"
    if ctx.tenant_apps:
        return (f"{len(ctx.tenant_apps)} TENANT APP(S) NOT CHECKED: django_migrations IN "
                f"{len(ctx.tracker_schemas)} SCHEMAS")
    return None


def _apps(ctx: Context) -> list[AppSummary]:
    rec = ctx.rec
    labels = set(ctx.apps) | set(ctx.records_by_app) | (rec.code_apps if rec else set())
    out = []
    for app in sorted(labels):
        present = ctx.apps.get(app, [])
        expected = sorted(t for t, a in rec.expected_tables.items() if a == app) if rec else []
        in_code = [s for s in rec.statuses if s.app == app and s.in_code] if rec else []
        applied_expected = [t for t in expected if rec and _created_by_applied(ctx, t)]
        missing = [t for t in applied_expected if ctx.live is not None and t not in ctx.live]
        out.append(AppSummary(
            app=app, tables_present=len(present),
            tables_expected=len(applied_expected) if rec and app in rec.code_apps else None,
            tables_missing=missing, records=len(ctx.records_by_app.get(app, [])),
            migrations_in_code=len(in_code) if rec and app in rec.code_apps else None,
            unrecorded_in_code=sum(1 for s in in_code if not s.recorded),
            source=ctx.app_source.get(app, "migration records")))
    return out


def _created_by_applied(ctx: Context, table: str) -> bool:
    assert ctx.rec is not None
    key = ctx.rec.created_by.get(table)
    st = next((s for s in ctx.rec.statuses if (s.app, s.name) == key), None)
    return st is not None and st.state not in ("pending",)


def _gaps(ctx: Context) -> list[str]:
    b = ctx.bundle
    gaps = [f"{c.name} collector failed: {c.error}" for c in b.collection.collectors
            if c.status == "error"]
    if b.codebase is None:
        gaps.append("No codebase was scanned (--project): expected tables and migrations are "
                    "unknown; nothing can be called missing or unexpected.")
    else:
        gaps.extend(f"codebase: {e}" for e in b.codebase.errors)
        if ctx.rec is not None:
            outside = sorted({s.app for s in ctx.rec.statuses if s.state == "recorded_not_in_"
                              "scan"})
            if outside:
                gaps.append("Apps recorded in django_migrations but not in the scanned codebase "
                            f"(installed packages?): {', '.join(outside)}. Their files were not "
                            "checked.")
    if ctx.baseline is None:
        gaps.append("No baseline bundle: row-level loss cannot be excluded.")
    sig = b.signals
    if sig is not None and sig.database is not None and sig.database.stats_reset:
        when = sig.database.stats_reset.strftime("%Y-%m-%d %H:%M")
        gaps.append(f"Server statistics were reset at {when} UTC: tuple counters cover only "
                    "the time since.")
    if sig is not None and not sig.statements_available:
        gaps.append(f"pg_stat_statements not used: {sig.statements_note}.")
    if b.server_log is None:
        gaps.append("No server log was read (--server-log): DDL times come from other "
                    "sources only.")
    else:
        gaps.extend(f"Server log: {n}" for n in b.server_log.notes)
    inv = b.inventory
    if inv is not None and inv.exact_counts is not None and inv.exact_counts.skipped:
        gaps.append(f"Exact counts: {inv.exact_counts.skipped} table(s) not counted (see "
                    "Appendix D).")
    if b.inventory is not None and not b.inventory.sizes_complete:
        gaps.append(f"Sizes incomplete: {b.inventory.size_error}")
    return gaps
