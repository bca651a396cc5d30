"""Rules: each a small function, context in, findings out. Findings cite bundle facts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from reportgen.analyze.context import LOSS_KINDS, Context
from reportgen.analyze.diff import TRACKER_TABLES
from reportgen.analyze.framework import tracked, tracker_table
from reportgen.analyze.model import Finding, MigrationStatus
from reportgen.analyze.reconcile import Reconciliation
from reportgen.bundle import ColumnName, LogEvent, Relation, TableName
from reportgen.constants import Level


def _names(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def collector_failures(ctx: Context) -> list[Finding]:
    out = []
    b = ctx.bundle
    for run in b.collection.collectors:
        if run.status != "error":
            continue
        dims = {"identity": "production", "inventory": "schema", "migrations": "migration",
                "codebase": "migration"}
        out.append(Finding(
            id=f"evidence.{run.name}_failed", severity="HIGH",
            dimension=dims.get(run.name, "production"),
            title=f"The {run.name} collector failed: its part of the picture is unknown",
            subjects=[run.name], evidence=[f"collection.collectors[{run.name}].error: {run.error}"],
            explanation="A failed collector leaves a gap. Nothing in this report assumes the "
                        "missing evidence is fine; verdicts that need it are reported as unknown.",
            recommendation="Fix the cause named in the error and collect again."))
    return out


def visibility(ctx: Context) -> list[Finding]:
    inv = ctx.bundle.inventory
    if inv is None:
        return []
    out = []
    gaps = [c for c in inv.schema_counts if c.information_schema < c.pg_class]
    if gaps:
        out.append(Finding(
            id="visibility.information_schema_gap", severity="LOW", dimension="schema",
            title="information_schema shows fewer tables than pg_catalog",
            subjects=[c.schema_name for c in gaps],
            evidence=[f"schema {c.schema_name}: pg_class {c.pg_class}, information_schema "
                      f"{c.information_schema}" for c in gaps],
            explanation="information_schema lists only objects the current role holds a "
                        "privilege on. A script that queries it can count no table "
                        "while the tables exist. This report counts from pg_catalog.",
            recommendation="Never conclude a table is missing from information_schema alone; "
                           "check pg_catalog.pg_class."))
    unreadable = [r.qualified for r in inv.relations if r.readable is False]
    if unreadable:
        out.append(Finding(
            id="visibility.unreadable_relations", severity="MEDIUM", dimension="data",
            title=f"The collecting role cannot read {len(unreadable)} relation(s)",
            subjects=unreadable,
            evidence=[f"has_table_privilege(SELECT) is false for {_names(unreadable)}"],
            explanation="These relations are present in pg_catalog (they are not missing), but "
                        "their rows cannot be checked by this role.",
            recommendation="Collect again with a role that holds SELECT (e.g. pg_read_all_data) "
                           "if row-level checks are needed."))
    no_usage = [c.schema_name for c in inv.schema_counts if not c.usage]
    if no_usage:
        out.append(Finding(
            id="visibility.schema_without_usage", severity="MEDIUM", dimension="schema",
            title="The collecting role has no USAGE on some schemas",
            subjects=no_usage, evidence=[f"has_schema_privilege(USAGE) false: {_names(no_usage)}"],
            explanation="Objects in these schemas are listed from pg_catalog, but the role "
                        "cannot query them.",
            recommendation="Grant USAGE (read-only) to the collecting role, or collect as the "
                           "owner."))
    return out


def never_analyzed(ctx: Context) -> list[Finding]:
    inv = ctx.bundle.inventory
    if inv is None:
        return []
    names = [r.qualified for r in inv.relations if r.kind in ("table", "materialized view")
             and r.row_estimate is None and not r.is_partition]
    if not names:
        return []
    return [Finding(
        id="data.never_analyzed", severity="LOW", dimension="data",
        title=f"{len(names)} table(s) were never analyzed: their row counts are unknown",
        subjects=names, evidence=[f"pg_class.reltuples = -1 for {_names(names)}"],
        explanation="reltuples = -1 means 'never analyzed or vacuumed', not zero rows.",
        recommendation="Row counts for these tables need an exact count (or ANALYZE by the "
                       "owner outside the incident window).")]


def locks(ctx: Context) -> list[Finding]:
    inv = ctx.bundle.inventory
    if inv is None:
        return []
    locked = [r for r in inv.relations if r.locked_by]
    if not locked:
        return []
    ev = []
    for r in locked:
        for h in r.locked_by:
            since = f", transaction open {h.waiting_seconds:.0f}s" if h.waiting_seconds else ""
            ev.append(f"{r.qualified}: pid {h.pid} {'holds' if h.granted else 'awaits'} "
                      f"{h.mode} (app {h.application_name or '?'}, state {h.state or '?'}"
                      f"{since})")
    return [Finding(
        id="production.relations_locked", severity="HIGH", dimension="production",
        title=f"{len(locked)} relation(s) are locked ACCESS EXCLUSIVE by other sessions",
        subjects=[r.qualified for r in locked], evidence=ev,
        explanation="Every query on these relations waits behind that lock, so the "
                    "application is likely blocked on them. reportgen did not wait: their sizes "
                    "were not read.",
        recommendation="Identify the holder (pid above); if it is a stuck DDL or a forgotten "
                       "transaction, end it with pg_cancel_backend / pg_terminate_backend.")]


def dropped_during_collection(ctx: Context) -> list[Finding]:
    inv = ctx.bundle.inventory
    if inv is None:
        return []
    gone = [r.qualified for r in inv.relations if r.readable is None]
    if not gone:
        return []
    return [Finding(
        id="production.dropped_during_collection", severity="CRITICAL",
        dimension="production",
        title=f"{len(gone)} relation(s) were dropped while reportgen was collecting",
        subjects=gone,
        evidence=[f"in the snapshot, but gone from the catalog when their privileges were "
                  f"checked (has_table_privilege returned NULL): {_names(gone)}"],
        explanation="Another session dropped these relations after the read-only snapshot "
                    "began: something is removing objects right now. The report shows them "
                    "as they were at the snapshot.",
        recommendation="Find the session dropping objects (pg_stat_activity, the server log) and "
                       "stop it before anything else; then collect again to see the current "
                       "state.")]


def roles(ctx: Context) -> list[Finding]:
    ident = ctx.bundle.identity
    if ident is None:
        return []
    out = []
    if ident.in_recovery:
        out.append(Finding(
            id="production.collected_from_standby", severity="LOW", dimension="production",
            title="Evidence was collected from a standby (read replica)",
            subjects=[ident.current_database], evidence=["pg_is_in_recovery() = true"],
            explanation="A replica may lag the primary; recent changes may not be visible.",
            recommendation="Compare with the primary before acting on row-level details."))
    return out


#: How each framework records a migration without running it.
FAKED = {"django": "`migrate --fake`", "alembic": "`alembic stamp`",
         "golang-migrate": "`migrate force`", "prisma": "`prisma migrate resolve --applied`",
         "sqitch": "`sqitch deploy --log-only`", "flyway": "`flyway baseline`"}
#: What each framework does when its table names a migration no file has.
UNKNOWN_STOPS = {
    "django": "Django ignores the row.",
    "alembic": "Alembic stops every command that reads the history (upgrade, current, "
               "stamp without --purge) with \"Can't locate revision\".",
    "golang-migrate": "`migrate up` stops: no migration found for that version.",
    "prisma": "`prisma migrate deploy` and `status` report it as applied but missing from "
              "the migrations folder.",
    "sqitch": "`sqitch status` and `deploy` stop: the registry holds a change the plan "
              "does not have.",
    "flyway": "`flyway validate` (and so `migrate`) fails: an applied migration is not "
              "resolved locally.",
}
#: Where each framework shows a migration's own SQL.
OWN_SQL = {"django": "`python manage.py sqlmigrate APP NAME`",
           "alembic": "`alembic upgrade DOWN:REV --sql`",
           "golang-migrate": "the migration's .up.sql file",
           "prisma": "the migration's migration.sql",
           "sqitch": "the change's deploy script", "flyway": "the migration's V…sql file"}


def migration_tracking(ctx: Context) -> list[Finding]:
    m = ctx.bundle.migrations
    if m is None:
        return []
    dj = tracked(ctx.bundle)
    fw = ctx.fw
    out = []
    if dj.unknown:
        out.append(Finding(
            id="migration.revision_file_missing", severity="HIGH", dimension="migration",
            title=f"{fw.tracker} records {fw.unit}(s) no file in the project has",
            subjects=list(dj.unknown),
            evidence=[f"{fw.tracker} in schema {dj.schema_name} holds {v}; no {fw.unit} file "
                      f"under {ctx.bundle.codebase.root if ctx.bundle.codebase else '?'} "
                      "has that name" for v in dj.unknown],
            explanation=UNKNOWN_STOPS[fw.key] + " The file was deleted, renamed, or the "
                        "database was migrated from another branch of the code; what that "
                        f"{fw.unit} did is unknown here.",
            recommendation=f"Restore the {fw.unit} file from version control (the branch or "
                           f"commit that deployed it), then assess again. Never "
                           f"{FAKED[fw.key].strip('`')} over it: that hides what was "
                           "applied."))
    if dj.failed:
        by = {s.name: s for s in ctx.rec.statuses} if ctx.rec else {}
        out.append(Finding(
            id="migration.failed_run", severity="HIGH", dimension="migration",
            title=f"{fw.name}: {len(dj.failed)} {fw.unit}(s) started and never finished",
            subjects=list(dj.failed),
            evidence=[f"{n}: " + (by[n].basis or by[n].state.replace("_", " ") if n in by
                                  else f"{fw.tracker} records it as failed")
                      for n in dj.failed],
            explanation=f"{fw.name} refuses to migrate until this is resolved. Whether the "
                        "run finished, rolled back or stopped half-way is read from the "
                        "schema: its effects are checked like every other migration's.",
            recommendation="Resolve it with the recovery option below (it says which of "
                           "the tool's commands the schema supports); never mark it applied "
                           "while part of it is missing."))
    if dj.edited:
        out.append(Finding(
            id="migration.file_edited", severity="MEDIUM", dimension="migration",
            title=f"{len(dj.edited)} applied {fw.unit}(s) edited since they ran",
            subjects=list(dj.edited),
            evidence=[f"{n}: {fw.tracker}.checksum differs from the file's sha-256"
                      for n in dj.edited],
            explanation=f"{fw.name} checks these checksums: it warns (deploy) or wants to "
                        "reset the database (dev). The schema was checked against the file "
                        "as it is now, not as it ran.",
            recommendation="Restore the file as it was applied (version control), or, if "
                           "the edit is intended and the schema matches it, update the "
                           "checksum deliberately."))
    if not dj.table_present:
        has_code = ctx.rec is not None and bool(ctx.rec.statuses)
        expected_present = []
        if ctx.rec and ctx.live is not None:
            expected_present = [t for t in ctx.rec.expected_tables if t in ctx.live]
        if has_code or expected_present:
            out.append(Finding(
                id="migration.tracking_table_missing",
                severity="HIGH" if expected_present else "MEDIUM", dimension="migration",
                title=f"There is no {fw.tracker} table",
                subjects=[fw.tracker],
                evidence=[f"no relation named {fw.tracker} in any schema (pg_class)"]
                + ([f"{len(expected_present)} tables the migrations create are present"]
                   if expected_present else []),
                explanation=f"Without the tracking table {fw.name} considers every {fw.unit} "
                            f"unapplied and `{fw.apply}` will try to create tables that exist.",
                recommendation=f"Do not run `{fw.apply}`. Restore the table from a backup or "
                               f"re-record {fw.unit}s whose schema is verified."))
    elif not dj.readable:
        out.append(Finding(
            id="migration.records_unreadable", severity="HIGH", dimension="migration",
            title=f"{fw.tracker} exists but could not be read",
            subjects=[fw.tracker], evidence=[dj.error or "not readable"],
            explanation="Migration state is unknown.",
            recommendation=f"Collect as a role that can SELECT {fw.tracker}."))
    return out


def migration_reconciliation(ctx: Context) -> list[Finding]:
    rec = ctx.rec
    if rec is None:
        return []
    out: list[Finding] = []
    by_state: dict[str, list[MigrationStatus]] = defaultdict(list)
    for s in rec.statuses:
        if s.app not in ctx.tenant_apps:  # judged per tenant schema, not from one schema
            by_state[s.state].append(s)
    out += _records_missing(ctx, by_state)
    out += _schema_missing(ctx, by_state["applied_schema_missing"],
                           by_state["schema_lost_unrecorded"])
    partial = by_state["partially_applied"]
    if partial:
        out.append(Finding(
            id="migration.partially_applied", severity="HIGH", dimension="migration",
            title="Unrecorded migrations whose schema is only partly present",
            subjects=[f"{s.label}" for s in partial],
            evidence=[f"{s.label}: present {_names(s.present, 4)}; missing "
                      f"{_names(s.missing, 4)}" + (f" ({s.basis})" if s.basis else "")
                      for s in partial],
            explanation="Neither faking nor running these migrations is safe as they stand: "
                        "a non-atomic migration that stopped half-way, or one whose schema "
                        "was partly removed since.",
            recommendation="Reconcile by hand: create what is missing or drop what a failed "
                           "run left behind, then run the migration."))
    ghosts = by_state["ghost_record"]
    if ghosts:
        out.append(Finding(
            id="migration.ghost_records", severity="MEDIUM", dimension="migration",
            title="Recorded migrations with no file in the codebase",
            subjects=[f"{s.label}" for s in ghosts],
            evidence=[f"django_migrations row {s.label}; no such file under "
                      f"{s.app}/migrations/" for s in ghosts],
            explanation="Renamed, deleted or squashed-away migrations. Django silently ignores "
                        "these rows; they hide what was really applied.",
            recommendation="Find the commit that removed the file before deleting any row "
                           "(`migrate --prune` deletes them: a write)."))
    if rec.unverified_tables:
        t = rec.unverified_tables
        out.append(Finding(
            id="schema.absent_unverifiable", severity="MEDIUM", dimension="schema",
            title=f"{len(t)} table(s) a {ctx.fw.unit} created are absent, and a later one "
                  "that cannot be read may have dropped them",
            subjects=t, tables=[TableName(schema_name=_tables_schema(ctx), name=n) for n in t],
            evidence=[f"pg_class has no {n}; a later {ctx.fw.unit} whose effects could not "
                      "all be read names it" for n in t],
            explanation="Whether these tables were dropped by the incident or by the "
                        f"application's own later {ctx.fw.unit} cannot be told from the "
                        "schema: they are called neither missing nor intact.",
            recommendation="Compare with a baseline or a copy from before the incident "
                           "(`--baseline`), or read the later revisions' code."))
    out += _graph_findings(rec)
    out += _not_applied(ctx, by_state["pending"], by_state["pending_or_lost"])
    if ctx.live is not None:
        explained = set(rec.expected_tables)
        extra = sorted(t for t, r in ctx.live.items()
                       if r.kind in ("table", "partitioned table")
                       and ctx.app_of.get(r.qualified) in rec.code_apps and t not in explained)
        if extra:
            out.append(Finding(
                id="schema.unexplained_tables", severity="LOW", dimension="schema",
                title=f"{len(extra)} table(s) carry an app's prefix but no migration creates "
                      "them",
                subjects=extra, evidence=[f"pg_class has {_names(extra)}"],
                explanation="Created by hand, by RunSQL, or left over from removed models.",
                recommendation="Check whether they are still used before anything is dropped."))
    return out


def _records_missing(ctx: Context, by_state: dict[str, list[MigrationStatus]]
                     ) -> list[Finding]:
    """Migrations that ran (their own schema, or what is built on them, is present) without
    a record: re-recordable when their schema is whole."""
    unrec = by_state["schema_present_unrecorded"] + [
        s for s in by_state["unverifiable_unrecorded"] if s.present]
    fw = ctx.fw
    tr = tracked(ctx.bundle)
    unrec = [s for s in unrec if s.name not in tr.failed]  # migration.failed_run names them
    # A recorded version no file has may stand above all of them: nothing is "behind" then
    # (migration.revision_file_missing says what to do first).
    if not unrec or not tr.table_present or tr.unknown:
        return []
    if fw.key != "django":
        names = [s.name for s in unrec]
        held = ", ".join(tr.versions[:10]) + (" …" if len(tr.versions) > 10 else "")
        return [Finding(
            id="migration.records_missing", severity="HIGH", dimension="migration",
            title=f"Tables present, {fw.tracker} behind them ({fw.units(len(unrec))})",
            subjects=[fw.key, *names],
            evidence=[f"{len(unrec)} {fw.unit}(s) that ran (their schema, or what is built on "
                      f"them, is present) are not recorded in {fw.tracker} "
                      f"({names[0]} … {names[-1]})",
                      f"{fw.tracker} holds " + (held or "no row")],
            explanation=f"The schema these {fw.unit}s create exists, but {fw.name} counts "
                        f"them unapplied: `{fw.apply}` would run them again and fail on "
                        "objects that exist.",
            recommendation=f"Record only the {fw.unit}s verified against the schema (see "
                           f"Recovery options: {FAKED[fw.key]}); never past one whose "
                           "effects are missing.")]
    apps = sorted({s.app for s in unrec})
    per_app: dict[str, list[str]] = defaultdict(list)
    for s in unrec:
        per_app[s.app].append(s.name)
    ev = [f"{a}: {len(per_app[a])} migration file(s) that ran (their schema, or what is "
          f"built on them, is present) with no django_migrations row ({per_app[a][0]} … "
          f"{per_app[a][-1]})" for a in apps]
    ev += [f"{a}: {len(ctx.records_by_app.get(a, []))} django_migrations rows" for a in apps]
    deleted = _django_migrations_deletes(ctx)
    if deleted:
        ev.append(deleted)
    return [Finding(
        id="migration.records_missing", severity="HIGH", dimension="migration",
        title=f"Tables present, migration records missing ({', '.join(apps)})",
        subjects=apps + [f"{s.label}" for s in unrec], evidence=ev,
        explanation="The schema these migrations create exists, but Django has no record "
                    "of applying them. `migrate` would try to create existing tables and "
                    "fail; history-dependent apps raise InconsistentMigrationHistory.",
        recommendation="Re-record only the migrations verified safe to fake (see Recovery "
                       "options); never fake a migration whose schema effects are missing.")]


def _schema_missing(ctx: Context, broken: list[MigrationStatus],
                    lost: list[MigrationStatus]) -> list[Finding]:
    """Migrations that ran (recorded, or shown to have run) whose schema is partly gone:
    the missing tables and columns are data findings, keys and indexes schema ones."""
    out: list[Finding] = []
    miss = [x for s in broken + lost for x in s.missing]
    tables = sorted({x.removeprefix("table ") for x in miss if x.startswith("table ")})
    gone = set(tables)  # a missing table's columns and keys are not listed again one by one
    cols = sorted({x.removeprefix("column ") for x in miss if x.startswith("column ")
                   and x.removeprefix("column ").rsplit(".", 1)[0] not in gone})
    keys = sorted({x for x in miss if not x.startswith(("table ", "column "))
                   and _key_table(x) not in gone})
    if broken:
        worst: Level = "CRITICAL" if (tables or cols) else "HIGH"
        out.append(Finding(
            id="schema.recorded_but_missing", severity=worst, dimension="schema",
            title="Migrations are recorded as applied but their schema is missing",
            subjects=[f"{s.label}" for s in broken] + tables + cols,
            evidence=[f"{s.label} recorded {s.applied_at:%Y-%m-%d %H:%M} UTC; missing: "
                      f"{_names(s.missing)}" if s.applied_at else
                      f"{s.label} recorded; missing: {_names(s.missing)}" for s in broken],
            explanation=f"{ctx.fw.name} believes these changes are in place; the database "
                        "does not have them: they were dropped (data loss, when tables or "
                        "columns went), changed outside migrations (drift), or recorded "
                        f"without running ({FAKED[ctx.fw.key]}).",
            recommendation="Do not fake or re-run anything for these apps. Compare with a "
                           "copy from before the incident (a baseline) to tell which; "
                           "restore what was dropped from it."))
    if lost:
        out.append(Finding(
            id="schema.lost_unrecorded", severity="CRITICAL", dimension="schema",
            title="Migrations that ran have lost their schema and their records",
            subjects=[f"{s.label}" for s in lost],
            evidence=[f"{s.label}: {s.basis}; missing: {_names(s.missing)}"
                      for s in lost],
            explanation=f"{ctx.fw.name} applies {ctx.fw.unit}s in dependency order and records "
                        f"each one as it runs: these ran, then their schema was removed and "
                        f"their records deleted. They are not pending: `{ctx.fw.apply}` would "
                        "create empty tables where the data was.",
            recommendation=f"Do not run `{ctx.fw.apply}`"
                           + (" for these apps" if ctx.fw.key == "django" else "")
                           + ". Restore the tables from a copy taken before the incident, then "
                           f"re-record the {ctx.fw.unit}s."))
    if tables:
        existed = {t: ctx.rec.existed[t] for t in tables if ctx.rec and t in ctx.rec.existed}
        out.append(Finding(
            id="data.tables_missing", severity="CRITICAL", dimension="data",
            title=f"{len(tables)} table(s) created by migrations that ran are gone",
            subjects=tables,
            tables=[TableName(schema_name=_tables_schema(ctx), name=t) for t in tables],
            evidence=[f"pg_class has no {t} (schema "
                      + (f"{_tables_schema(ctx)})" if ctx.fw.key == "sqitch"
                         else f"of {ctx.fw.tracker})") for t in tables]
            + [f"{t} existed: {why}" for t, why in existed.items()],
            explanation="Their rows are gone with them unless a backup or restore point "
                        "holds them."
                        + ("" if len(existed) == len(tables) else
                           " A table whose migration was recorded without running "
                           f"({ctx.fw.fake}) "
                           "looks the same: a baseline, the server log or a foreign key "
                           "created to it tells the two apart."),
            recommendation="Create a point-in-time restore branch from before the incident "
                           "and copy these tables back (selective repair)."))
    if cols:
        out.append(Finding(
            id="data.columns_missing", severity="HIGH", dimension="data",
            title=f"{len(cols)} column(s) created by migrations that ran are gone",
            subjects=cols, evidence=[f"pg_attribute has no {c}" for c in cols],
            columns=[_column_ref(ctx, c) for c in cols],
            explanation="The values in those columns are lost unless restored.",
            recommendation="Restore the columns' values from a point-in-time copy."))
    if keys:
        out.append(Finding(
            id="schema.keys_missing", severity="HIGH", dimension="schema",
            title=f"{len(keys)} foreign key(s), unique key(s) or index(es) that migrations "
                  "created are gone",
            subjects=sorted({_key_table(k) for k in keys}) + keys,
            evidence=[f"not in pg_constraint/pg_index: {k}" for k in keys],
            explanation="No data went with them, but the database no longer enforces what "
                        "the application relies on (a foreign key, a unique value) or "
                        "queries slow down: `DROP ... CASCADE` removes the foreign keys of "
                        "the tables that stay.",
            recommendation="Re-create them (from the migrations' own SQL: "
                           f"{OWN_SQL[ctx.fw.key]}, or a baseline's definitions) after "
                           "checking the rows still satisfy them."))
    return out


def _key_table(effect: str) -> str:
    """The table of a key effect's label ('foreign key t(c) → r', 'index x on t')."""
    if " on " in effect and "(" not in effect:
        return effect.rsplit(" on ", 1)[1]
    return effect.split(" ", 2)[-1].split("(", 1)[0]


def _not_applied(ctx: Context, pending: list[MigrationStatus], unsure: list[MigrationStatus]
                 ) -> list[Finding]:
    fw = ctx.fw
    out = []
    if pending:
        out.append(Finding(
            id="migration.pending", severity="LOW", dimension="migration",
            title=f"{len(pending)} {fw.unit}(s) not applied yet (their schema is absent)",
            subjects=[f"{s.label}" for s in pending],
            evidence=[f"{s.label}: {s.basis or 'missing ' + _names(s.missing, 3)}"
                      for s in pending],
            explanation=f"Normal for {fw.unit}s not deployed yet; they must not be "
                        + ("faked." if fw.key == "django" else f"recorded ({fw.fake})."),
            recommendation=f"Apply them with `{fw.apply}` once the history is consistent."))
    if unsure:
        out.append(Finding(
            id="migration.pending_or_lost", severity="MEDIUM", dimension="migration",
            title=f"{len(unsure)} {fw.unit}(s) not applied, or applied and lost with their "
                  "records",
            subjects=sorted({s.app for s in unsure}) + [f"{s.label}" for s in unsure],
            evidence=[f"{s.label}: {s.basis}" for s in unsure[:30]],
            explanation="Their schema is absent and nothing built on them ran, so they may "
                        f"never have run (a deploy not migrated yet); but a {fw.unit} that "
                        "ran and then lost its tables and its record looks the same, and "
                        "the evidence cannot tell the two apart.",
            recommendation=f"Do not run `{fw.apply}` until this is decided: if they had run, it "
                           "would create empty tables where the data was. Decide with a "
                           "bundle from a copy taken before the incident (`--baseline`), or "
                           "the server log."))
    return out


def _graph_findings(rec: Reconciliation) -> list[Finding]:
    out = []
    if rec.inconsistent:
        out.append(Finding(
            id="migration.inconsistent_history", severity="HIGH", dimension="migration",
            title="Applied migrations whose dependencies are not recorded",
            subjects=sorted({f"{a}.{n}" for pair in rec.inconsistent for a, n in pair}),
            evidence=[f"{a}.{n} is applied before its dependency {da}.{dn}"
                      for (a, n), (da, dn) in rec.inconsistent],
            explanation="Django refuses to migrate with InconsistentMigrationHistory until the "
                        "dependencies are recorded.",
            recommendation="Re-record the dependencies (if their schema is verified) before "
                           "running migrate."))
    if rec.dangling_dependencies:
        out.append(Finding(
            id="migration.dangling_dependency", severity="HIGH", dimension="migration",
            title="Migrations depend on migrations that do not exist",
            subjects=sorted({f"{a}.{n}" for (a, n), _ in rec.dangling_dependencies}),
            evidence=[f"{a}.{n} depends on {da}.{dn}, which is not in {da}/migrations/"
                      for (a, n), (da, dn) in rec.dangling_dependencies],
            explanation="Django raises NodeNotFoundError for the whole project.",
            recommendation="Restore the missing migration file or correct the dependency."))
    for d in rec.dangling_references:
        similar = f" Models with that name: {', '.join(d.similar)}." if d.similar else ""
        out.append(Finding(
            id="migration.dangling_reference", severity="HIGH", dimension="migration",
            title=f"{d.migration[0]}.{d.migration[1]} references {d.target}, which nothing "
                  "creates",
            subjects=[f"{d.migration[0]}.{d.migration[1]}", d.target, d.expected_table],
            evidence=[f"{d.migration[0]}.{d.migration[1]} field {d.field} → {d.target}",
                      f"no migration under {d.target.split('.')[0]}/migrations/ creates "
                      f"model {d.target.split('.')[1]}",
                      f"pg_class has no {d.expected_table}"],
            explanation="Applying this migration fails: its foreign key points at a table "
                        "that never existed." + similar,
            recommendation="Edit the migration to reference the right model"
                           + (f" (likely {d.similar[0].split(' ')[0]})" if d.similar else "")
                           + ", or provide the model; never create the table by hand."))
    return out


def other_trackers(ctx: Context) -> list[Finding]:
    m = ctx.bundle.migrations
    out = []
    mine = tracker_table(ctx.bundle, ctx.fw.key) if ctx.fw.key != "django" and ctx.rec \
        else None
    for t in m.others if m else []:
        where = f"{t.schema_name}.{t.table}"
        if t is mine:  # reconciled with the revisions: the findings above speak for it
            continue
        if t.problems:
            out.append(Finding(
                id=f"migration.{t.tool.replace('-', '_')}_problem", severity="HIGH",
                dimension="migration", title=f"{t.tool}: {t.problems[0]}",
                subjects=[where], evidence=[f"{where}: {p}" for p in t.problems],
                explanation=f"{t.tool}'s own record shows a failed, dirty, locked or unfinished "
                            "state; its next run will refuse to proceed or repeat work.",
                recommendation="Check the schema against that migration by hand, then resolve "
                               f"the state with {t.tool}'s own command (never by editing the "
                               "table blind)."))
        elif not t.readable:
            out.append(Finding(
                id="migration.tracker_unreadable", severity="MEDIUM", dimension="migration",
                title=f"{t.tool} tracking table {where} could not be read",
                subjects=[where], evidence=[t.error or "not readable"],
                explanation="That tool's migration state is unknown.",
                recommendation="Collect as a role that can SELECT it."))
    return out


def emptied_tables(ctx: Context) -> list[Finding]:
    """Tables the counters show written to, with none live now. Emptied without a counted
    delete and counted empty: truncated, its rows gone (data.tables_truncated, HIGH).
    Emptied by deletes: a table's own cleanup (expired sessions, a drained queue) looks the
    same without a baseline (data.tables_emptied, MEDIUM)."""
    inv = ctx.bundle.inventory
    if inv is None:
        return []
    # A tracker's rows are migration records: the migration findings speak for them (sqitch's
    # registry is a schema of its own).
    registry = tracked(ctx.bundle).schema_name if ctx.fw.key == "sqitch" else None
    hits = [r for r in inv.relations if r.kind == "table" and (r.inserted_tuples or 0) > 0
            and r.live_tuples == 0 and (r.exact_rows in (None, 0))
            and r.name not in TRACKER_TABLES and r.schema_name != registry]
    # A table whose count(*) found rows was cleared by the count and is not listed at all.
    truncated = [r for r in hits if r.exact_rows == 0 and not r.deleted_tuples]
    deleted = [r for r in hits if r not in truncated]
    out = []
    if truncated:
        out.append(Finding(
            id="data.tables_truncated", severity="HIGH", dimension="data",
            title=f"{len(truncated)} table(s) had rows and were emptied without a delete "
                  "(truncated)",
            **_emptied_subjects(truncated),
            explanation="The server's own counters show rows were written to these tables "
                        "and none deleted one by one; none are live now and count(*) in the "
                        "same snapshot finds none: they were truncated (or the table "
                        "rewritten empty). Those rows are gone.",
            recommendation="Restore the rows from a point-in-time copy (the row repair)."))
    if deleted:
        out.append(Finding(
            id="data.tables_emptied", severity="MEDIUM", dimension="data",
            title=f"{len(deleted)} table(s) had rows and are now empty",
            **_emptied_subjects(deleted),
            explanation="The server's own counters show rows were written to these tables and "
                        "none are live now. Rows deleted one by one may be a table's own "
                        "cleanup (expired sessions, a drained queue) or loss: without a "
                        "baseline the two look the same.",
            recommendation="Check each table against a point-in-time copy before concluding."))
    return out


def _emptied_subjects(rels: list[Relation]) -> dict[str, Any]:
    """An emptied-table finding's subjects, evidence and tables."""
    return {"subjects": [r.qualified for r in rels], "evidence": _emptied(rels),
            "tables": [TableName(schema_name=r.schema_name, name=r.name) for r in rels]}


def _emptied(rels: list[Relation]) -> list[str]:
    ev = []
    for r in rels:
        how = (f"{r.deleted_tuples} rows deleted" if r.deleted_tuples else
               "no deletes counted (consistent with TRUNCATE)")
        counted = ("; count(*) in the snapshot: 0" if r.exact_rows == 0 else
                   f"; not counted ({r.count_error})" if r.count_error else "")
        ev.append(f"{r.qualified}: {r.inserted_tuples} rows inserted since statistics reset, "
                  f"0 live now; {how} (pg_stat_all_tables){counted}")
    return ev


def destructive_statements(ctx: Context) -> list[Finding]:
    sig = ctx.bundle.signals
    if sig is None or not sig.statements:
        return []
    hits = [s for s in sig.statements if s.kind in LOSS_KINDS]
    if not hits:
        return []
    return [Finding(
        id="data.destructive_statements", severity="HIGH", dimension="data",
        title=f"pg_stat_statements recorded {len(hits)} destructive statement(s)",
        subjects=sorted({s.kind for s in hits}),
        evidence=[f"{s.kind}: {s.query[:160]} — {s.calls} call(s), {s.rows} row(s), "
                  f"by {s.user or '?'}" for s in hits],
        explanation="These statements ran on this database since pg_stat_statements was last "
                    "reset; the statistics do not say when.",
        recommendation="Find when they ran (server log, application logs) and restore from a "
                       "point before the first one.")]


def logged_events(ctx: Context) -> list[Finding]:
    events = ctx.log_events
    if not events:
        return []
    out = []
    loss = [e for e in events if e.kind in LOSS_KINDS]
    if loss:
        out.append(Finding(
            id="data.destructive_events_logged", severity="HIGH", dimension="data",
            title=f"The server log shows {len(loss)} destructive statement(s)",
            subjects=sorted({e.kind for e in loss}),
            evidence=[f"{e.time:%Y-%m-%d %H:%M:%S} UTC {e.kind} by {e.user or '?'} "
                      f"(app {e.application or '?'}): {e.statement[:160]} [{e.source}]"
                      for e in loss[:30]],
            explanation="Statements are logged when received; one that failed or was rolled "
                        "back is logged too. Whether the data is gone shows in the inventory.",
            recommendation="Restore from a point in time just before the first of them."))
    if ctx.live is not None and ctx.bundle.inventory is not None:
        ident = ctx.bundle.identity
        default_schema = ident.current_schema if ident is not None else None
        present = {(r.schema_name, r.name) for r in ctx.bundle.inventory.relations}
        names = {r.name for r in ctx.bundle.inventory.relations}
        gone: list[tuple[TableName, LogEvent]] = []
        for e in events:
            if e.kind != "DROP TABLE":
                continue
            for t in e.tables:
                # Unqualified: the table the application's search_path found, when known.
                schema = t.schema_name if t.schema_name is not None else default_schema
                exists = (schema, t.name) in present if schema is not None else t.name in names
                if not exists and all(t != g for g, _ in gone):
                    gone.append((t, e))
        empty = [(t, e, why) for t, e in gone if (why := _rows_known_none(ctx, t, e))]
        gone = [(t, e) for t, e in gone if not any(t == x for x, _, _ in empty)]
        if empty:
            out.append(Finding(
                id="schema.tables_dropped_without_rows", severity="MEDIUM", dimension="schema",
                title=f"{len(empty)} dropped table(s) with what is known of their rows",
                subjects=sorted({t.qualified for t, _, _ in empty}),
                tables=[t for t, _, _ in empty],
                evidence=[f"{e.time:%Y-%m-%d %H:%M:%S} UTC DROP TABLE {t.qualified} "
                          f"[{e.source}]; {why}" for t, e, why in empty],
                explanation="The table is gone; what is known of its rows (evidence) does "
                            "not show data lost with it: it was created within the log's "
                            "window or counted empty. Not reported as confirmed data loss.",
                recommendation="Re-create it from its migration or DDL if it is still "
                               "needed."))
        if gone:
            out.append(Finding(
                id="data.tables_dropped_logged", severity="CRITICAL", dimension="data",
                title=f"{len(gone)} table(s) dropped according to the server log are gone",
                subjects=sorted({t.qualified for t, _ in gone}),
                tables=[t for t, _ in gone],
                evidence=[f"{e.time:%Y-%m-%d %H:%M:%S} UTC DROP TABLE {t.qualified} by "
                          f"{e.user or '?'} [{e.source}]; pg_class has no {t.qualified}"
                          for t, e in gone],
                explanation="The log shows the DROP and the catalog shows the table absent: "
                            "the table and its rows are gone.",
                recommendation="Restore the tables from a point-in-time copy taken before "
                               f"{gone[0][1].time:%Y-%m-%d %H:%M:%S} UTC."))
    return out


def _rows_known_none(ctx: Context, t: TableName, drop: LogEvent) -> str | None:
    """Why a dropped table is known to have held no rows, or None when it may have: the log
    shows it created and dropped within its window with no insert logged in between (only
    when the log records this database's writes at all: with log_statement = 'ddl' no
    INSERT is ever logged), or the baseline counted it empty."""
    events = ctx.log_events
    log = ctx.bundle.server_log
    db = ctx.bundle.identity.current_database if ctx.bundle.identity else None
    writes_logged = log is not None and log.write_databases is not None and (
        db in log.write_databases or "" in log.write_databases)

    def named(e: LogEvent) -> bool:
        return any(x.name == t.name and x.schema_name in (None, t.schema_name)
                   for x in e.tables)

    created = next((e for e in events if e.kind == "CREATE TABLE" and e.time <= drop.time
                    and named(e)), None)
    if created is not None and writes_logged:
        writes = [e for e in events if e.kind in ("INSERT", "COPY FROM")
                  and created.time <= e.time <= drop.time and named(e)]
        if writes:
            return None  # rows were written to it, then dropped with it
        return (f"the log shows it created at {created.time:%Y-%m-%d %H:%M:%S} UTC and no "
                "write to it before the DROP: no rows from before the log's window, none "
                "logged within it")
    base = ctx.baseline.inventory if ctx.baseline and ctx.baseline.inventory else None
    for r in base.relations if base else []:
        if r.name == t.name and t.schema_name in (None, r.schema_name) and r.exact_rows == 0:
            return "the baseline counted it empty (count(*) = 0)"
    return None


def graph_errors(ctx: Context) -> list[Finding]:
    cb = ctx.bundle.codebase
    if cb is None or not cb.graph_errors:
        return []
    return [Finding(
        id="migration.graph_error", severity="HIGH", dimension="migration",
        title="Django cannot build the migration graph",
        subjects=sorted({w.strip(".,'\"()") for e in cb.graph_errors for w in e.split()
                         if w.count(".") == 1 and w[0].isalpha()})[:10] or ["migrations"],
        evidence=[f"MigrationLoader: {e}" for e in cb.graph_errors],
        explanation="Every management command that loads migrations (migrate, showmigrations, "
                    "makemigrations) stops with this error until it is fixed.",
        recommendation="Restore the missing migration file or correct the dependency named "
                       "in the error; never edit django_migrations to work around it.")]


def django_migrations_relation(ctx: Context) -> Relation | None:
    """The inventory's entry for the django_migrations table Django reads."""
    if ctx.bundle.inventory is None or not ctx.bundle.migrations or ctx.fw.key != "django":
        return None
    schema = ctx.bundle.migrations.django.schema_name
    return next((r for r in ctx.bundle.inventory.relations
                 if r.name == "django_migrations" and r.schema_name == schema), None)


def _django_migrations_deletes(ctx: Context) -> str | None:
    r = django_migrations_relation(ctx)
    if r is None or not r.deleted_tuples:
        return None
    return (f"pg_stat_all_tables: {r.deleted_tuples} row(s) deleted from {r.qualified} since "
            "statistics were last reset")


def deploy_blocked(ctx: Context, findings: list[Finding]) -> list[Finding]:
    blocking = [f for f in findings if f.id in (
        "migration.records_missing", "migration.inconsistent_history",
        "migration.dangling_dependency", "migration.dangling_reference",
        "migration.tracking_table_missing", "migration.partially_applied",
        "migration.graph_error", "migration.revision_file_missing", "migration.failed_run")]
    if not blocking:
        return []
    return [Finding(
        id="production.deploy_blocked", severity="MEDIUM", dimension="production",
        title=f"Deploys that run `{ctx.fw.apply}` will fail until migration state is "
              "reconciled",
        subjects=sorted({s for f in blocking for s in f.subjects if "." not in s})[:20],
        evidence=[f"finding {f.id}: {f.title}" for f in blocking],
        explanation="The running application keeps working on the existing schema, but any "
                    "release that runs migrations stops at the first of these problems.",
        recommendation="Pause deploys (or skip the "
                       + ("migrate" if ctx.fw.key == "django" else f"`{ctx.fw.apply}`")
                       + " step) until the recovery plan's fix phase is complete.")]


def no_baseline(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """The missing baseline is an evidence gap. It is a MEDIUM risk only beside signs of
    damage (a HIGH or CRITICAL finding): a healthy database is not a risk."""
    if ctx.baseline is not None or ctx.bundle.inventory is None:
        return []
    damaged = any(f.severity in ("HIGH", "CRITICAL") for f in findings)
    return [Finding(
        id="data.no_baseline", severity="MEDIUM" if damaged else "LOW", dimension="data",
        title="Row-level loss cannot be excluded: no baseline to compare with",
        subjects=[], evidence=["no --baseline bundle was given"],
        explanation="Tables being present says nothing about their rows. Only a comparison "
                    "with an earlier bundle (or one collected from a point-in-time restore) can "
                    "show that no rows were lost.",
        recommendation="Collect a bundle from a restore branch/replica as of before the "
                       "incident, then run `reportgen diff` or pass it as --baseline.")]


RULES: list[Callable[[Context], list[Finding]]] = [
    collector_failures, visibility, never_analyzed, locks, dropped_during_collection, roles,
    migration_tracking, migration_reconciliation, graph_errors, other_trackers, emptied_tables,
    destructive_statements, logged_events,
]


def _column_ref(ctx: Context, label: str) -> ColumnName:
    """'table.column' from a migration effect, split where the table is one the migrations
    know (a dot inside either name never splits it wrongly)."""
    known = ctx.rec.created_by.keys() | ctx.rec.expected_tables.keys() if ctx.rec else set()
    cuts = [i for i, ch in enumerate(label) if ch == "."]
    cut = next((i for i in cuts if label[:i] in known), cuts[-1] if cuts else len(label))
    return ColumnName(schema_name=_tables_schema(ctx), table=label[:cut], name=label[cut + 1:])


def _tables_schema(ctx: Context) -> str | None:
    """The schema of the tracking table: where the framework created the tables it
    records."""
    tr = tracked(ctx.bundle)
    return tr.tables_schema or tr.schema_name
