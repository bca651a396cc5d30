"""Recovery options and the phased action plan, generated from findings and the provider.

Commands are printed for a human to review and run; reportgen never executes them. The
recommended option is chosen by the rules in ``choose_recommended`` (documented there).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from reportgen.analyze.commands import NextCommands
from reportgen.analyze.context import Context
from reportgen.analyze.fixfiles import with_fix_files
from reportgen.analyze.framework import ALEMBIC, FLYWAY, GOLANG, PRISMA, SQITCH, tracked
from reportgen.analyze.model import (
    SHOWN,
    WORDS,
    ActionItem,
    ActionPhase,
    Finding,
    RecoveryOption,
    RowPrediction,
    TimelineEntry,
)
from reportgen.analyze.providers import RestoreArgs, restore_for
from reportgen.analyze.reconcile import (
    Reconciliation,
    fake_sql,
    record_command,
    record_script,
)
from reportgen.bundle import ColumnName, EvidenceBundle, LogEvent, Relation, TableName
from reportgen.quoting import (
    SCRIPT_HEADER,
    pg_dump_pattern,
    sql_comment,
    sql_ident,
    sql_literal,
    sql_qualified,
)
from reportgen.quoting import Placeholder as P
from reportgen.quoting import shell_command as sh


def restore_point(timeline: list[TimelineEntry], findings: list[Finding] | None = None,
                  log: list[LogEvent] | None = None, baseline: EvidenceBundle | None = None
                  ) -> tuple[datetime | None, str]:
    """One minute before the server log's first DROP of a lost table when the log has it,
    else one minute before the first event of the responder's timeline, else the time of a
    baseline that still had what is lost now (the last time it was seen)."""
    dropped = next((f for f in findings or [] if f.id == "data.tables_dropped_logged"), None)
    lost = {(t.schema_name, t.name) for t in dropped.tables} if dropped else set()
    drops = [e for e in (log or []) if e.kind == "DROP TABLE"
             and any((t.schema_name, t.name) in lost for t in e.tables)]
    if drops:
        first_drop = min(drops, key=lambda e: e.time)
        return (first_drop.time - timedelta(minutes=1),
                f"one minute before the server log's first DROP TABLE of a lost table "
                f"({first_drop.source})")
    responder = [e for e in timeline if e.source.startswith("timeline file")]
    gone = any(f.id in LOST_TABLE_FINDINGS or f.id in ROW_LOSS_FINDINGS
               or f.id in COLUMN_LOSS_FINDINGS for f in findings or [])
    if not responder and baseline is not None and gone:
        taken = baseline.collection.started_at
        return taken, (f"the baseline's time ({taken:%Y-%m-%d %H:%M:%S} UTC): the last time "
                       "what is lost now was seen, with its rows; a later point may hold more "
                       "recent rows if you know when the incident began")
    if not responder:
        return None, ("no timeline file was given: choose a time before the first destructive "
                      "action yourself")
    first = min(responder, key=lambda e: e.time)
    when = first.time - timedelta(minutes=1)
    approx = " (that event's time is approximate: check it)" if first.approximate else ""
    return when, f"one minute before the first timeline event, '{first.event}'{approx}"


def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "<TIME-BEFORE-INCIDENT>"


def window_check(provider: str, when: datetime | None, collected: datetime) -> str:
    note = restore_for(provider).window_note
    if when is None:
        return f"no restore point could be derived; {note}"
    out_of_window = beyond_window(provider, when, collected)
    if out_of_window:
        return out_of_window
    return f"the restore point was {_ago(collected - when)} before collection; {note}"


def _ago(age: timedelta) -> str:
    days = age.total_seconds() / 86400
    return f"{days:.1f} days" if days >= 1 else f"{age.total_seconds() / 3600:.1f} hours"


def beyond_window(provider: str, when: datetime | None, collected: datetime) -> str | None:
    """Why point-in-time restore is no longer possible, or None when it may be."""
    longest = restore_for(provider).max_window_days
    if when is None or longest is None:
        return None
    age = collected - when
    if age.total_seconds() / 86400 <= longest:
        return None
    return (f"the restore point was {_ago(age)} before collection, beyond the longest window "
            f"this provider offers ({longest:g} days): point-in-time restore is no longer "
            "possible; use a logical backup or an older snapshot instead")


def _pitr(ctx: Context, timeline: list[TimelineEntry],
          findings: list[Finding] | None = None) -> RecoveryOption:
    """Restore into a NEW copy as of the restore point, the provider's way (``providers``)."""
    ident = ctx.bundle.identity
    provider = ident.provider.name if ident else "unknown"
    recipe = restore_for(provider)
    endpoint = (ident.provider.endpoint if ident else None) or "<instance>"
    when, why = restore_point(timeline, findings, ctx.log_events, ctx.baseline)
    args = RestoreArgs(endpoint=endpoint,
                       # production's name as a shell word, or a placeholder to fill in
                       ep=endpoint if ident and ident.provider.endpoint else P("<instance>"),
                       stamp=_iso(when), when=when,
                       day=when.strftime("%Y%m%d-%H%M") if when else "before-incident")
    verify = ["reportgen collect --dsn <RESTORED-DSN> --exact-counts -o restored.json",
              "reportgen diff restored.json evidence.json"]
    steps = [f"Restore into a NEW {recipe.noun} as of {args.stamp} ({why}); never restore "
             "over production.",
             "Connect to it read-only, collect a bundle, and compare it with this one "
             "(verification below): that comparison is the baseline this report lacks.",
             "Decide: copy the affected tables back (selective repair) or switch the "
             "application to the restored copy. Production stays untouched until then."]
    if recipe.step is not None:
        steps.insert(1, recipe.step(args))
    if recipe.console is not None:
        steps[0] = (f"Use {recipe.console} to create a NEW copy as of {args.stamp} ({why}); "
                    "an in-place restore would overwrite production.")
    if ident is not None and ident.provider.confirmed_by_server is False:
        steps.insert(0, f"These steps are {recipe.name}'s, and that rests on the host name "
                        "alone: the server shows none of its roles or settings. Confirm where "
                        "the database runs before following them.")
    return RecoveryOption(
        id="pitr_new_branch", title=recipe.title.format(endpoint=endpoint),
        undo="delete the new copy it created; production is not touched.",
        applies_when="Rows or tables may be lost, or the pre-incident state is needed as a "
                     "baseline.",
        steps=steps, commands=recipe.commands(args),
        pros=["Production is not touched.",
              "Gives the baseline this report lacks: a row-by-row comparison becomes possible."],
        cons=list(recipe.cons), data_loss_risk="LOW", expected_time="15–60 minutes",
        verification=verify, restore_point=when,
        window_check=window_check(provider, when, ctx.bundle.collection.started_at),
        ruled_out=beyond_window(provider, when, ctx.bundle.collection.started_at))


def _refake(ctx: Context) -> RecoveryOption | None:
    rec = ctx.rec
    failed = tracked(ctx.bundle).failed if ctx.fw in (GOLANG, FLYWAY, PRISMA) else []
    if rec is None or not (rec.fake_plan or failed):
        return None
    if ctx.fw is ALEMBIC:
        return _stamp(ctx)
    if ctx.fw is GOLANG:
        return _force(ctx)
    if ctx.fw is PRISMA:
        return _resolve(ctx)
    if ctx.fw is SQITCH:
        return _log_only(ctx)
    if ctx.fw is FLYWAY:
        return _flyway_fix(ctx)
    schema = ctx.bundle.migrations.django.schema_name if ctx.bundle.migrations else None
    blocked = [f"{a}.{n}: {why}" for (a, n), why in rec.fake_blocked.items()
               if _unrecorded_with_schema(ctx, (a, n))]
    n = len(rec.fake_plan)
    run = NextCommands.of(ctx.bundle)
    steps = ["Take a bundle first, as the baseline for this change: "
             f"`{run.collect('before-refake.json')}`.",
             f"Record the {n} migration(s) whose every schema effect was verified present, in "
             "dependency order, with Django's own MigrationRecorder (the Python file below): it "
             "writes exactly these rows and nothing else.",
             _why_not_migrate_fake(rec)]
    if schema is not None:
        steps.append("Or run the equivalent SQL below: the same rows, nothing else.")
    if blocked:
        steps.append("Do NOT record these; each needs a decision first: " + "; ".join(blocked))
    return RecoveryOption(
        id="refake_verified", title="Re-record the verified migrations (Django's "
                                    "MigrationRecorder)",
        applies_when="Tables are present and migration records are missing.",
        steps=steps, commands=[record_command(rec.rows(rec.fake_plan), run.django_alias)],
        script=fake_sql(rec.rows(rec.fake_plan), schema) if schema is not None else None,
        python=record_script(rec.rows(rec.fake_plan), run.django_alias),
        undo="set UNDO = True in the Python file and run it the same way: exactly these "
             "records are removed again (the SQL file's rows are the same ones).",
        in_project=True,
        pros=["Writes only to django_migrations; no table is touched.", "Minutes to apply."],
        cons=["Records the state only: data migrations (RunPython) that never ran are not "
              "run."] + (["Some migrations are excluded and need a decision."]
                         if blocked else []),
        data_loss_risk="LOW", expected_time="10–30 minutes",
        outcome=_outcome(ctx),
        predicted_unapplied=[f"{a}.{n}" for a, n in rec.after_unapplied]
        if not rec.after_inconsistent else None,
        predicted_apps=sorted(rec.code_apps),
        verification=[run.manage("showmigrations"), run.manage("migrate", "--plan"),
                      run.assess("--baseline", "before-refake.json", "--out",
                                 "after-refake/")])


def stamp_targets(ctx: Context) -> list[str]:
    """The heads of what is recorded once the plan is: the revisions to stamp (Alembic
    records heads only; each one stands for itself and everything below it)."""
    rec = ctx.rec
    assert rec is not None and ctx.bundle.codebase is not None
    done = {r.name for r in ctx.records} | {n for _, n in rec.fake_plan}
    below = {d for m in ctx.bundle.codebase.migrations if m.name in done
             for _, d in m.dependencies}
    return [n for _, n in rec.order if n in done and n not in below]


def alembic_command(ctx: Context, *args: str) -> str:
    cb = ctx.bundle.codebase
    config = cb.config if cb is not None and cb.config else "alembic.ini"
    return sh("alembic", "-c", config, *args)


def _decisions(ctx: Context) -> list[str]:
    """The unrecorded migrations left out of the fix, each with why: the first of a chain
    named, those waiting on it counted."""
    rec = ctx.rec
    assert rec is not None
    blocked = [f"{n}: {why}" for (a, n), why in rec.fake_blocked.items()
               if _unrecorded_with_schema(ctx, (a, n))]
    own = [b for b in blocked if ": depends on " not in b]
    waiting = len(blocked) - len(own)
    if not blocked:
        return []
    them = "it" if len(own) == 1 else "them"
    return [f"Not recorded here; each needs a decision first: {'; '.join(own)}"
            + (f"; and {waiting} after {them}, which depend on {them}" if waiting else "")]


def _verified_prefix(ctx: Context) -> list[str]:
    """In the tool's (linear) order: the migrations recorded, or verified and planned, up
    to the first that is neither."""
    rec = ctx.rec
    assert rec is not None
    done = {r.name for r in ctx.records} | {n for _, n in rec.fake_plan}
    out = []
    for _, n in rec.order:
        if n not in done:
            break
        out.append(n)
    return out


def _tracker_fix(ctx: Context, *, baseline: str, steps: list[str], writes: str,
                 checks: list[str], never_ran: str, excluded: str, **fields: Any
                 ) -> RecoveryOption:
    """A fix that writes only the tracking table's rows, as Alembic, golang-migrate, Flyway,
    Prisma and sqitch get it: a bundle first as its baseline, the same pros and cons, the
    tool's predicted outcome, its own checks and then a re-assessment against that
    baseline. ``excluded``: the cons line when migrations are left for a decision."""
    run = NextCommands.of(ctx.bundle)
    after = baseline.removeprefix("before-").removesuffix(".json")
    return RecoveryOption(
        id="refake_verified", in_project=True,
        steps=[f"Take a bundle first, as the baseline for this change: "
               f"`{run.collect(baseline)}`.", *steps],
        pros=[f"Writes only {writes}; no table is touched.", "Minutes to apply."],
        cons=[f"Records the state only: {never_ran} is not run."]
        + ([excluded] if _decisions(ctx) else []),
        data_loss_risk="LOW", expected_time="10–30 minutes", outcome=_outcome(ctx),
        verification=[*checks, run.assess("--baseline", baseline, "--out", f"after-{after}/")],
        **fields)


def _force(ctx: Context) -> RecoveryOption | None:
    """golang-migrate: ``migrate force V`` writes version V, clean, and checks nothing (its
    postgres driver: TRUNCATE, then INSERT (V, false), one transaction). V is the last of
    the migrations recorded or verified in order; a dirty version whose run rolled back is
    left to run again (V is the one before it)."""
    rec, tr = ctx.rec, tracked(ctx.bundle)
    assert rec is not None and ctx.bundle.codebase is not None
    if tr.unknown:
        return None
    prefix = _verified_prefix(ctx)
    target = prefix[-1] if prefix else "-1"
    cur = tr.summary.entries[0] if tr.summary and tr.summary.entries else None
    if cur is not None and cur.name == target and cur.state == "applied":
        return None  # the table already says exactly this
    folder = ctx.bundle.codebase.config or "migrations"
    table = sql_qualified(tr.schema_name, "schema_migrations")
    before = (f"`migrate -path {folder} -database \"$DATABASE_URL\" force {cur.name}`"
              + (f" then `UPDATE {table} SET dirty = true` (it was dirty)"
                 if cur.state == "dirty" else "") if cur is not None else
              f"`migrate -path {folder} -database \"$DATABASE_URL\" force -1` (an empty table)")
    steps = [f"Force version {target}: every migration up to it is recorded or was verified "
             "against the schema (its own effects, or what a later one built on it). "
             "`migrate force` checks nothing itself: it writes the version it is given, "
             "clean.", *_decisions(ctx),
             "Or run the equivalent SQL below: the same statements golang-migrate's postgres "
             "driver runs for force."]
    rows = ["BEGIN;", f"TRUNCATE {table};"]
    if target != "-1":
        rows.append(f"INSERT INTO {table} (version, dirty) VALUES ({int(target)}, false);")
    return _tracker_fix(
        ctx, baseline="before-force.json", steps=steps, writes="schema_migrations",
        never_ran="a migration that never ran",
        excluded="Some migrations are excluded and need a decision.",
        checks=[sh("migrate", "-path", folder, "-database", P('"$DATABASE_URL"'), "version")],
        title="Force the verified version (migrate force)",
        applies_when="The tables are present and schema_migrations is behind them or dirty.",
        commands=[sh("migrate", "-path", folder, "-database", P('"$DATABASE_URL"'), "force",
                     target)],
        script="\n".join([*SCRIPT_HEADER, "-- The same statements as `migrate force`, "
                          "nothing else.", *rows, "COMMIT;"]),
        undo=f"{before} puts back what schema_migrations held.")


def _flyway_fix(ctx: Context) -> RecoveryOption | None:
    """Flyway: ``flyway repair`` removes the failed rows (a run whose transaction rolled
    back: ``migrate`` runs it again); ``flyway baseline -baselineVersion=V`` records V and
    everything below it on an emptied history. Flyway has no command that marks a failed
    row, or one deleted from a history that still holds others, as applied: that is the SQL
    file, rows as Flyway writes them (its CRC-32 checksum of the file)."""
    rec, tr = ctx.rec, tracked(ctx.bundle)
    assert rec is not None and ctx.bundle.codebase is not None
    if tr.unknown:
        return None
    files = {m.name: m for m in ctx.bundle.codebase.migrations}
    by_name = {st.name: st for st in rec.statuses}
    back = [n for n in tr.failed if by_name[n].state == "pending"]
    finished = [n for n in tr.failed if n in {k for _, k in rec.fake_plan}]
    plan = [n for _, n in rec.fake_plan if n not in finished]
    if not (back or finished or plan):
        return None
    table = sql_qualified(tr.schema_name, "flyway_schema_history")
    folder = ctx.bundle.codebase.config or "sql"
    empty = tr.summary is not None and not tr.summary.rows
    commands: list[str] = []
    rows: list[str] = []
    steps = []
    if back:
        commands.append(sh("flyway", f"-locations=filesystem:{folder}", "repair"))
        rows.append(f"DELETE FROM {table} WHERE NOT success AND version "
                    "OPERATOR(pg_catalog.=) ANY (ARRAY["
                    + ", ".join(sql_literal(n) for n in back) + "]);")
        steps.append(f"Repair: the failed run(s) of {', '.join(back)} left none of their "
                     "schema (rolled back); `flyway repair` removes their rows and `flyway "
                     "migrate` runs them again."
                     + (f" It also realigns the checksums of {', '.join(tr.edited)} with "
                        "the edited files: restore those files first if the edit was not "
                        "meant." if tr.edited else ""))
    if finished:
        rows += [f"UPDATE {table} SET success = true WHERE NOT success AND version "
                 f"OPERATOR(pg_catalog.=) {sql_literal(n)};" for n in finished]
        steps.append(f"{', '.join(finished)}: its run is recorded as failed, but all of its "
                     "schema is present. Flyway has no command for this: the SQL file marks "
                     "its row successful.")
    if plan and empty:
        target = _verified_prefix(ctx)[-1]
        commands.append(sh("flyway", f"-locations=filesystem:{folder}", "baseline",
                           f"-baselineVersion={target}",
                           "-baselineDescription=verified by reportgen"))
        rows += [f"INSERT INTO {table} (installed_rank, version, description,",
                 "type, script, checksum, installed_by, installed_on, execution_time, success)",
                 "VALUES"]
        rows.append(f"(1, {sql_literal(target)}, 'verified by reportgen', 'BASELINE', "
                    "'<< Flyway Baseline >>',")
        rows.append("NULL, CURRENT_USER, pg_catalog.now(), 0, true);")
        steps.append(f"Baseline at {target}: the history is empty and every migration up to "
                     "it was verified against the schema (its own effects, or what a later "
                     "one built on it); Flyway then counts them applied and runs only what "
                     "is above.")
    elif plan:
        rows += [f"INSERT INTO {table} (installed_rank, version, description,",
                 "type, script, checksum, installed_by, installed_on, execution_time, success)"]
        rows.append("SELECT r.base OPERATOR(pg_catalog.+) x.n, x.v, x.d, 'SQL', x.f, x.c,")
        rows.append("CURRENT_USER, pg_catalog.now(), 0, true")
        rows.append(f"FROM (SELECT pg_catalog.max(installed_rank) AS base FROM {table}) r,")
        rows.append("(VALUES")
        for i, n in enumerate(plan, 1):
            m = files[n]
            rows += [f"({i}, {sql_literal(n)},", f"{sql_literal(m.title or '')},",
                     f"{sql_literal(m.path.rsplit('/', 1)[-1])}, {m.checksum or 'NULL'})"
                     + ("," if i < len(plan) else "")]
        rows.append(") AS x (n, v, d, f, c);")
        steps.append(f"Record the {len(plan)} migration(s) verified against the schema: "
                     "Flyway has no command that adds a row to a history that holds others, "
                     "so this is the SQL file (type SQL, the file's name and Flyway's "
                     "checksum of it).")
    steps += [*_decisions(ctx), "The SQL file does all of this in one transaction."]
    return _tracker_fix(
        ctx, baseline="before-repair.json", steps=steps, writes="flyway_schema_history",
        never_ran="a migration that never ran",
        excluded="Some migrations are excluded and need a decision.",
        checks=[sh("flyway", f"-locations=filesystem:{folder}", "info"),
                sh("flyway", f"-locations=filesystem:{folder}", "validate")],
        title="Repair flyway_schema_history to the verified state",
        applies_when="The tables are present and flyway_schema_history is behind them or "
                     "records a failed run.",
        commands=commands,
        script="\n".join([*SCRIPT_HEADER, "-- The rows Flyway writes for this, nothing "
                          "else.", "BEGIN;", *rows, "COMMIT;"]),
        undo="the baseline bundle taken first lists flyway_schema_history's rows: delete "
             "the rows added, put back the ones removed.")


def _log_only(ctx: Context) -> RecoveryOption | None:
    """sqitch: ``sqitch deploy --log-only --to CHANGE`` records the plan's changes up to
    CHANGE as deployed without running their scripts (sqitch's own way to record what is
    already there); CHANGE is the last of the changes recorded or verified, in plan order."""
    rec, tr = ctx.rec, tracked(ctx.bundle)
    assert rec is not None
    if tr.unknown or not rec.fake_plan:
        return None
    prefix = _verified_prefix(ctx)
    if not prefix:
        return None
    target = prefix[-1]
    recorded = [r.name for r in ctx.records]
    last = next((n for _, n in reversed(rec.order) if n in recorded), None)
    undo = (sh("sqitch", "revert", "--log-only", "-y", "--to", last, P('"$SQITCH_TARGET"'))
            if last else sh("sqitch", "revert", "--log-only", "-y", P('"$SQITCH_TARGET"')))
    return _tracker_fix(
        ctx, baseline="before-log-only.json", writes="sqitch's registry",
        never_ran="a change that never ran",
        excluded="Some changes are excluded and need a decision.",
        checks=[sh("sqitch", "status", P('"$SQITCH_TARGET"'))],
        title="Log the verified changes as deployed (sqitch deploy --log-only)",
        applies_when="The tables are present and sqitch's registry is behind them.",
        steps=[f"Log the changes up to {target} as deployed: every one of the "
               f"{len(rec.fake_plan)} unrecorded change(s) up to it was verified against "
               "the schema (its own effects, or what a later one built on it). `--log-only` "
               "runs no script and checks nothing itself.",
               "Run it from the project's folder (where sqitch.plan is); SQITCH_TARGET is "
               "the target the project deploys to (sqitch's own variable).",
               *_decisions(ctx)],
        commands=[sh("sqitch", "deploy", "--log-only", "--to", target,
                     P('"$SQITCH_TARGET"'))],
        predicted_unapplied=[n for _, n in rec.after_unapplied], predicted_heads=[target],
        undo=f"`{undo}` removes exactly these records again.")


def _resolve(ctx: Context) -> RecoveryOption | None:
    """Prisma: ``prisma migrate resolve --applied NAME`` for each verified migration, and
    ``--rolled-back NAME`` for a failed one whose transaction rolled back (then ``migrate
    deploy`` runs it again). Prisma's engine: --rolled-back sets rolled_back_at on the failed
    rows; --applied marks those rolled back too and adds a finished row with the file's
    checksum and one applied step."""
    rec, tr = ctx.rec, tracked(ctx.bundle)
    assert rec is not None and ctx.bundle.codebase is not None
    if tr.unknown:
        return None
    files = {m.name: m for m in ctx.bundle.codebase.migrations}
    by_name = {s.name: s for s in rec.statuses}
    back = [n for n in tr.failed if by_name[n].state == "pending"]
    plan = [n for _, n in rec.fake_plan]
    if not plan and not back:
        return None
    table = sql_qualified(tr.schema_name, "_prisma_migrations")
    commands = [sh("npx", "prisma", "migrate", "resolve", "--rolled-back", n) for n in back]
    commands += [sh("npx", "prisma", "migrate", "resolve", "--applied", n) for n in plan]
    rows = [f"UPDATE {table} SET rolled_back_at = pg_catalog.now() WHERE migration_name "
            f"OPERATOR(pg_catalog.=) {sql_literal(n)} AND finished_at IS NULL AND "
            "rolled_back_at IS NULL;" for n in back + [n for n in plan if n in tr.failed]]
    if plan:
        rows.append(f"INSERT INTO {table} (id, checksum, started_at, finished_at, "
                    "migration_name, applied_steps_count) VALUES")
        for i, n in enumerate(plan):  # a value a line: each fits the page's code block
            rows += ["(pg_catalog.gen_random_uuid()::pg_catalog.text,",
                     f"{sql_literal(files[n].checksum or '')},",
                     "pg_catalog.now(), pg_catalog.now(),",
                     f"{sql_literal(n)}, 1)" + ("," if i < len(plan) - 1 else ";")]
    steps = []
    if back:
        steps.append(f"Mark {', '.join(back)} rolled back: its run failed and none of its "
                     "schema is present (its transaction rolled back); `prisma migrate "
                     "deploy` runs it again once the cause is fixed.")
    if plan:
        steps.append(f"Mark the {len(plan)} migration(s) verified against the schema as "
                     "applied (their own effects, or what a later one built on them). "
                     "`prisma migrate resolve --applied` checks nothing itself.")
    steps += [*_decisions(ctx), "Or run the equivalent SQL below: the rows Prisma's "
              "engine writes for these commands (gen_random_uuid: PostgreSQL 13 or later)."]
    return _tracker_fix(
        ctx, baseline="before-resolve.json", steps=steps, writes="_prisma_migrations",
        never_ran="a migration that never ran",
        excluded="Some migrations are excluded and need a decision.",
        checks=[sh("npx", "prisma", "migrate", "status")],
        title="Resolve the verified migrations (prisma migrate resolve)",
        applies_when="The tables are present and _prisma_migrations is behind them or "
                     "records a failed run.",
        commands=commands,
        script="\n".join([*SCRIPT_HEADER, "-- The rows `prisma migrate resolve` writes, "
                          "nothing else.", "BEGIN;", *rows, "COMMIT;"]),
        undo="delete the rows these commands added (finished_at = the time you ran them) and "
             "clear rolled_back_at on the failed ones: the baseline bundle lists what the "
             "table held.")


def _stamp(ctx: Context) -> RecoveryOption | None:
    """Alembic: stamp the heads whose every revision below is recorded or verified, and
    nothing else. ``--purge`` empties alembic_version first, so the table holds exactly
    these heads whatever it held (the command Alembic offers for a table it cannot read
    back). A version no revision file has is never stamped over: the file comes back first."""
    rec, tr = ctx.rec, tracked(ctx.bundle)
    assert rec is not None
    if tr.unknown:
        return None
    targets = stamp_targets(ctx)
    before = tr.versions or ["base"]
    steps = [f"Stamp {', '.join(targets)}: every one of the {len(rec.fake_plan)} unrecorded "
             "revision(s) at or below it was verified against the schema (its own effects, "
             "or what a later revision built on it). `alembic stamp` checks nothing itself: "
             "it writes the version it is given.",
             "Run it from the project's folder (where alembic.ini is), with the database URL "
             "the project's env.py uses pointing at this database."]
    if tr.table_present:
        steps.append("Or run the equivalent SQL below: the same rows in alembic_version, "
                     "nothing else.")
    steps += _decisions(ctx)
    table = sql_qualified(tr.schema_name, "alembic_version")
    script = "\n".join([*SCRIPT_HEADER, "-- The same rows as `alembic stamp --purge`, "
                        "nothing else.", "BEGIN;", f"DELETE FROM {table};",
                        f"INSERT INTO {table} (version_num) VALUES",
                        *(f"({sql_literal(t)})" + ("," if i < len(targets) - 1 else ";")
                          for i, t in enumerate(targets)), "COMMIT;"])
    return _tracker_fix(
        ctx, baseline="before-stamp.json", steps=steps, writes="alembic_version",
        never_ran="a data step in a revision that never ran",
        excluded="Some revisions are excluded and need a decision.",
        checks=[alembic_command(ctx, "current"),
                *([alembic_command(ctx, "upgrade", f"{targets[0]}:head", "--sql")]
                  if len(targets) == 1 else [alembic_command(ctx, "heads")])],
        title="Stamp the verified revisions (alembic stamp)",
        applies_when="Tables are present and alembic_version is behind them.",
        commands=[alembic_command(ctx, "stamp", "--purge", *targets)],
        script=script if tr.table_present else None,
        predicted_unapplied=[n for _, n in rec.after_unapplied], predicted_heads=targets,
        undo=f"`{alembic_command(ctx, 'stamp', '--purge', *before)}` puts back what "
             "alembic_version held.")


def _why_not_migrate_fake(rec: Reconciliation) -> str:
    if rec.inconsistent:
        (a, n), (da, dn) = rec.inconsistent[0]
        more = f" (and {len(rec.inconsistent) - 1} more)" if len(rec.inconsistent) > 1 else ""
        return ("`migrate APP NAME --fake` cannot do this here: migrate checks the recorded "
                f"history first and stops with InconsistentMigrationHistory, because {a}.{n} "
                f"is recorded but its dependency {da}.{dn} is not{more}.")
    return ("`migrate APP NAME --fake` is not used: it would also record every unapplied "
            "dependency of NAME, including migrations whose effects were not verified.")


def _outcome(ctx: Context) -> list[str]:
    """What Django's showmigrations and migrate --plan will show once the plan is recorded.
    The static scan knows only the apps whose files it read: it says so."""
    rec = ctx.rec
    assert rec is not None
    if ctx.fw in (GOLANG, FLYWAY, PRISMA, SQITCH):
        after = [n for _, n in rec.after_unapplied]
        if ctx.fw is FLYWAY:
            head = [f"`flyway info`: {len(after)} pending"
                    + ("." if after else "; validate passes.")]
        elif ctx.fw is GOLANG:
            prefix = _verified_prefix(ctx)
            head = [f"`migrate version`: {prefix[-1] if prefix else 'no migration'}."]
        elif ctx.fw is SQITCH:
            prefix = _verified_prefix(ctx)
            head = [f"`sqitch status`: change {prefix[-1] if prefix else 'none'} deployed"
                    + (f", {len(after)} undeployed." if after else "; up-to-date.")]
        else:
            head = [f"`prisma migrate status`: {len(after)} migration(s) not yet applied"
                    + ("." if after else "; the database schema is up to date.")]
        return [*head, f"`{ctx.fw.apply}` runs: " + ", ".join(after) + "." if after
                else f"`{ctx.fw.apply}`: nothing to run."]
    if ctx.fw is ALEMBIC:
        targets = stamp_targets(ctx)
        out = [f"`alembic current`: {', '.join(targets)}"
               + (" (head)." if not rec.after_unapplied else ".")]
        if not rec.after_unapplied:
            return [*out, "`alembic upgrade head`: nothing to run."]
        return [*out, "`alembic upgrade head` runs: "
                + ", ".join(n for _, n in rec.after_unapplied) + "."]
    cb = ctx.bundle.codebase
    scope = "" if cb is not None and cb.method.startswith("Django") else \
        " (for the apps whose migration files were read; apps not read add their own)"
    out = [f"`showmigrations`: the {len(rec.fake_plan)} migration(s) above become [X]; "
           f"{len(rec.after_unapplied)} stay [ ]{scope}."]
    if rec.after_inconsistent:
        (a, n), (da, dn) = rec.after_inconsistent[0]
        out.append(f"`migrate --plan` still stops with InconsistentMigrationHistory: {a}.{n} "
                   f"is recorded, its dependency {da}.{dn} is not (decide on {da}.{dn} first).")
        return out
    if not rec.after_unapplied:
        out.append(f"`migrate --plan`: no planned operations{scope}.")
        return out
    out.append("`migrate --plan` lists: " + ", ".join(
        f"{a}.{n}" for a, n in rec.after_unapplied) + f"{scope}.")
    dangling = {d.migration: d for d in rec.dangling_references}
    for key in rec.after_unapplied:
        d = dangling.get(key)
        if d is not None:
            out.append(f"`migrate` will still fail at {key[0]}.{key[1]}: field {d.field} "
                       f"references {d.target}, which no migration creates.")
        elif key in rec.fake_blocked:
            out.append(f"{key[0]}.{key[1]} needs a decision first: {rec.fake_blocked[key]}.")
    return out


def _unrecorded_with_schema(ctx: Context, key: tuple[str, str]) -> bool:
    assert ctx.rec is not None
    st = next((s for s in ctx.rec.statuses if (s.app, s.name) == key), None)
    return st is not None and st.state != "pending"


def _fix_reference(ctx: Context) -> RecoveryOption | None:
    rec = ctx.rec
    if rec is None or not rec.dangling_references:
        return None
    steps, commands = [], []
    for d in rec.dangling_references:
        mig = next((m for m in ctx.bundle.codebase.migrations  # type: ignore[union-attr]
                    if (m.app, m.name) == d.migration), None)
        where = mig.path if mig else f"{d.migration[0]}/migrations/{d.migration[1]}.py"
        fix = d.similar[0].split(" ")[0] if d.similar else "<app.Model>"
        steps.append(f"In {where}, field {d.field}: change to='{d.target}' to the model that "
                     f"exists ({fix}), if that is what was meant.")
        commands.append(sh("grep", "-n", "-F", "-e", d.target, "--", where))
    steps.append("A compatibility view (CREATE VIEW <missing table> AS SELECT * FROM <real "
                 "table>) does not help here: a foreign key cannot reference a view, so the "
                 "migration must be edited.")
    steps.append("Then check the migration applies: python manage.py migrate --plan")
    return RecoveryOption(
        id="fix_dangling_reference", title="Fix the migration that references a missing model",
        undo="nothing to undo: the command only reads the migration file.", in_project=True,
        applies_when="A migration points at a model/table that no migration creates.",
        steps=steps, commands=commands,
        pros=["Fixes the cause of the failed migrate.", "No database change."],
        cons=["A code change: review it like any migration change.",
              "If the migration was already applied elsewhere, coordinate the edit."],
        data_loss_risk="LOW", expected_time="30 minutes",
        verification=["python manage.py migrate --plan", "python manage.py makemigrations "
                      "--check --dry-run"])


LOST_TABLE_FINDINGS = ("data.tables_missing", "data.tables_dropped_since_baseline",
                       "data.tables_dropped_logged")


def _lost_refs(findings: list[Finding],
               ids: tuple[str, ...] = LOST_TABLE_FINDINGS) -> list[TableName]:
    """The tables the findings ``ids`` name (by default: the lost ones), schema and name
    apart, each once."""
    refs: list[TableName] = []
    for f in findings:
        if f.id in ids:
            refs += [t for t in f.tables if t not in refs]
    return refs


def _proven_lost(ctx: Context, findings: list[Finding], t: TableName) -> bool:
    """The evidence shows this absent table existed: the server log dropped it, a baseline
    had it, or a migration that ran created a foreign key to it."""
    proof = ("data.tables_dropped_since_baseline", "data.tables_dropped_logged")
    if any(t in f.tables for f in findings if f.id in proof):
        return True
    return ctx.rec is not None and t.name in ctx.rec.existed


def _lost_tables(ctx: Context, findings: list[Finding]) -> list[Relation]:
    """The lost tables, as the baseline (else nothing better) describes them."""
    source = ctx.baseline.inventory if ctx.baseline and ctx.baseline.inventory else None
    if source is None:
        return []
    refs = _lost_refs(findings)
    return [r for r in source.relations if r.kind in ("table", "partitioned table")
            and any(t.name == r.name and t.schema_name in (None, r.schema_name) for t in refs)]


def fk_order(tables: list[Relation]) -> list[Relation]:
    """Parents before children among the tables to restore (cycles keep their given order).
    Tables are keyed by (schema, name): a dot inside a name never makes two tables one."""
    by_key = {(t.schema_name, t.name): t for t in tables}
    done: list[Relation] = []
    seen: set[tuple[str, str]] = set()

    def visit(t: Relation, stack: set[tuple[str, str]]) -> None:
        key = (t.schema_name, t.name)
        if key in seen or key in stack:
            return
        stack.add(key)
        for fk in t.foreign_keys:
            parent = by_key.get((fk.ref_schema, fk.ref_table))
            if parent is not None and parent is not t:
                visit(parent, stack)
        seen.add(key)
        done.append(t)

    for t in sorted(tables, key=lambda r: (r.schema_name, r.name)):
        visit(t, set())
    return done


def _selective_repair(ctx: Context, findings: list[Finding]) -> RecoveryOption | None:
    if not any(f.id in LOST_TABLE_FINDINGS for f in findings):
        return None
    lost = fk_order(_lost_tables(ctx, findings))
    if not lost:
        refs = _lost_refs(findings)
        proven = [t for t in refs if _proven_lost(ctx, findings, t)]
        unproven = [t.qualified for t in refs if t not in proven]
        names = [t.qualified for t in proven]
        steps = ["Create the restored copy (point-in-time option), then collect a bundle "
                 "from it: its inventory gives the tables' foreign keys and the dependents "
                 "whose constraints CASCADE dropped (`reportgen diff restored.json "
                 "evidence.json`)."]
        if names:
            steps.append(f"Dump and restore only: {', '.join(names)}.")
        if unproven:
            steps.append(f"Not dumped here: {', '.join(unproven)}: nothing in this evidence "
                         "shows they existed (a migration recorded with "
                         + ctx.fw.fake
                         + " leaves the same picture). Run `reportgen assess --baseline "
                         "restored.json` with the restored copy's bundle: if the copy has "
                         "them, that report prints their repair.")
        return RecoveryOption(
            id="selective_repair", title="Copy the lost tables back from the restored copy",
            undo="drop the tables it restored (they were missing before it ran); the restore "
                 "is one transaction: if it fails, nothing changed.",
            applies_when="Tables are gone and a point-in-time copy exists.",
            steps=steps,
            commands=[chained([_dump_command(proven), _RESTORE_COMMAND])] if proven else [],
            pros=["Brings back exactly what was lost; other tables keep their current rows."],
            cons=["Without a baseline the foreign keys that pointed at these tables are not "
                  "known here: list them from the restored copy first."],
            data_loss_risk="MEDIUM", expected_time="1–3 hours",
            verification=_repair_verification(ctx), subjects=names,
            predicted_rows=[RowPrediction(schema_name=t.schema_name or "public", name=t.name,
                                          rows="whole") for t in proven])
    lost_keys = {(t.schema_name, t.name) for t in lost}
    dependents = []
    for r in ctx.baseline.inventory.relations if ctx.baseline and ctx.baseline.inventory else []:
        if (r.schema_name, r.name) in lost_keys:
            continue
        for fk in r.foreign_keys:
            if (fk.ref_schema, fk.ref_table) in lost_keys:
                dependents.append((r, fk))
    added: list[str] = []
    validated: list[str] = []
    for r, fk in dependents:
        cols = ", ".join(sql_ident(c) for c in fk.columns)
        ref_cols = ", ".join(sql_ident(c) for c in fk.ref_columns)
        table = sql_qualified(r.schema_name, r.name)
        added.append(f"ALTER TABLE {table} ADD CONSTRAINT {sql_ident(fk.name)} FOREIGN KEY "
                     f"({cols}) REFERENCES {sql_qualified(fk.ref_schema, fk.ref_table)} "
                     f"({ref_cols}) NOT VALID;")
        validated.append(f"ALTER TABLE {table} VALIDATE CONSTRAINT {sql_ident(fk.name)};")
    script = [*SCRIPT_HEADER,
              "-- Foreign keys that pointed at the restored tables (dropped by CASCADE), from "
              "the baseline: added NOT VALID in one transaction, then validated one by one. "
              "Rows written after the restore point that reference missing parents make "
              "VALIDATE fail, and show up (psql stops there; the keys stay, not validated).",
              "BEGIN;", *added, "COMMIT;", *validated]
    dep_names = sorted({r.qualified for r, _ in dependents})
    return RecoveryOption(
        id="selective_repair",
        title="Selective repair: copy the lost tables back, in foreign-key order",
        undo="drop the tables it restored (they were missing before it ran); the restore is "
             "one transaction: if it fails, nothing changed.",
        applies_when="Tables are gone, a point-in-time copy exists, and the rest of the "
                     "database must keep its current rows.",
        steps=[f"Restore order (parents first): {', '.join(t.qualified for t in lost)}.",
               _last_seen(ctx, lost),
               "Dump only those tables from the restored copy and restore them into production "
               "in one transaction (their own indexes and foreign keys come with them).",
               ("Re-create the foreign keys of the dependent tables "
                f"({', '.join(dep_names)}), which CASCADE dropped: foreign-keys.sql, beside "
                "the shell file below, which runs it last."
                if dep_names else "No other table referenced them in the baseline."),
               "Check rows written after the restore point in the dependent tables."],
        commands=[chained([_dump_command([TableName(schema_name=t.schema_name, name=t.name)
                                          for t in lost]), _RESTORE_COMMAND]
                          + ([_psql('"$PRODUCTION_DSN"', "-f", "foreign-keys.sql")]
                             if dependents else []))],
        script="\n".join(script) if dependents else None,
        script_file="foreign-keys.sql" if dependents else None,
        pros=["Brings back exactly what was lost; every other table keeps its current rows."],
        cons=["Rows written to the lost tables after the restore point are not in the copy.",
              "Needs a short write freeze on the dependent tables while constraints return."],
        data_loss_risk="MEDIUM", expected_time="1–3 hours",
        verification=_repair_verification(ctx),
        subjects=[t.qualified for t in lost] + dep_names,
        predicted_rows=[RowPrediction(schema_name=t.schema_name, name=t.name, rows="whole")
                        for t in lost] + [
            RowPrediction(schema_name=r.schema_name, name=r.name, rows="same")
            for r in sorted({r.qualified: r for r, _ in dependents}.values(),
                            key=lambda r: r.qualified)])


#: Rows gone from tables that still exist: counted (baseline deltas, or count(*) = 0 where
#: the server's counters show rows were written).
ROW_LOSS_FINDINGS = ("data.rows_lost_since_baseline", "data.tables_truncated")
#: Rows gone from tables that remove rows by design: offered, never restored by default.
CHURN_FINDINGS = ("data.rows_removed_by_design",)
COLUMN_LOSS_FINDINGS = ("data.columns_dropped_since_baseline", "data.columns_missing")
#: The staging schema's name starts with this; a suffix from the bundle's digest makes it
#: new for every collection, and the script creates it (and stops if it exists: never rows
#: or triggers someone else put there).
STAGING_PREFIX = "reportgen_repair_"


def _psql(dsn: str, *args: str) -> str:
    return sh("psql", P(dsn), "-X", "-q", "-v", "ON_ERROR_STOP=1", *args)


def chained(commands: list[str]) -> str:
    """Commands as one shell command list that stops at the first failure (``&&``), one
    command per line: pasted whole, or run with ``sh -c``, nothing after a failed step runs."""
    return " && \\\n  ".join(commands)


def _export_command(source: Relation, columns: list[str], file: str) -> str:
    """The restored copy's ``columns`` of ``source`` written to ``file``. ``COPY table (...)
    TO`` reads only a plain table (a view put in its place is refused, never run) and calls
    no function or operator; a partitioned table needs the query form, which reads it the
    same way. search_path is pg_catalog only, row_security off (a policy's expression never
    runs: a table it would filter is an error instead)."""
    cols = ", ".join(sql_ident(c) for c in columns)
    table = sql_qualified(source.schema_name, source.name)
    copy = (f"COPY (SELECT {cols} FROM {table}) TO STDOUT" if source.kind == "partitioned table"
            else f"COPY {table} ({cols}) TO STDOUT")
    return _psql('"$RESTORED_DSN"', "-c", "SET search_path = pg_catalog", "-c",
                 "SET row_security = off", "-c", copy) + f" > {file}"


def _key_match(key: list[str]) -> str:
    """Primary-key equality with pg_catalog's operator, named: no ``=`` a database user
    created elsewhere can be chosen, whatever the search_path."""
    return " AND ".join(f"p.{sql_ident(k)} OPERATOR(pg_catalog.=) r.{sql_ident(k)}"
                        for k in key)


def _repair_rows_and_columns(ctx: Context, findings: list[Finding]) -> RecoveryOption | None:
    """Rows deleted from tables that still exist, and columns dropped from them: read from a
    copy taken before the incident into files, staged in a schema of the script's own, then
    put back by primary key without touching a row that exists now (rows written since keep
    their values) -- all in one transaction."""
    live: dict[tuple[str | None, str], Relation] = {(r.schema_name, r.name): r for r in
            (ctx.bundle.inventory.relations if ctx.bundle.inventory else [])}
    before = {(r.schema_name, r.name): r for r in
              (ctx.baseline.inventory.relations if ctx.baseline and ctx.baseline.inventory
               else [])}
    row_refs = _lost_refs([f for f in findings if f.severity in ("HIGH", "CRITICAL")],
                          ROW_LOSS_FINDINGS)
    col_refs: list[ColumnName] = []
    for f in findings:
        if f.id in COLUMN_LOSS_FINDINGS:
            col_refs += [c for c in f.columns if c not in col_refs]
    rows = [live[t.schema_name, t.name] for t in row_refs if (t.schema_name, t.name) in live]
    by_table: dict[tuple[str, str], list[ColumnName]] = {}
    for c in col_refs:
        if c.schema_name is not None and (c.schema_name, c.table) in live:
            by_table.setdefault((c.schema_name, c.table), []).append(c)
    churn = [live[t.schema_name, t.name] for t in _lost_refs(findings, CHURN_FINDINGS)
             if (t.schema_name, t.name) in live]
    if not rows and not by_table:
        return None
    # Named from the bundle, so the same evidence gives the same repair.sql (and the same
    # sha-256 in the report); the script stops if a schema of that name exists.
    staging = STAGING_PREFIX + hashlib.sha256(
        f"staging:{ctx.bundle.digest}".encode()).hexdigest()[:8]
    exports: list[str] = []  # shell: the restored copy's rows into files
    stage_sql: list[str] = []  # SQL: staging tables, filled from those files
    body: list[str] = []  # SQL: the repair itself
    after_commit: list[str] = []
    manual: list[str] = []
    staged_tables: list[str] = []
    kept: list[str] = []  # staging tables left for the responder (no primary key)
    subjects: list[str] = []
    optional: list[str] = []  # shell, commented: tables left out by default (churn)
    optional_sql: list[str] = []

    predicted: list[RowPrediction] = []

    def predict(rel: Relation, rows: str, key: list[str] | None = None,
                columns: list[str] | None = None) -> None:
        """What the repair does to ``rel`` (a rehearsal counts it): a table both repaired
        by key and given columns back is one prediction."""
        for i, p in enumerate(predicted):
            if (p.schema_name, p.name) == (rel.schema_name, rel.name):
                predicted[i] = p.model_copy(update={
                    "rows": p.rows if rows == "same" else rows, "key": key or p.key,
                    "columns": p.columns + (columns or [])})
                return
        predicted.append(RowPrediction.model_validate(
            {"schema_name": rel.schema_name, "name": rel.name, "rows": rows,
             "key": key or [], "columns": columns or []}))

    def stage(rel: Relation, what: str, columns: list[tuple[str, str]],
              chosen: bool = True) -> str:
        """A staging table for ``rel``'s restored ``columns`` (name, type): its name."""
        staged = f"{what}_{len(exports) + len(optional) + 1}"
        file = f"{staged}.copy"
        table = sql_qualified(staging, staged)
        lines = [f"CREATE TABLE {table} ("
                 + ", ".join(f"{sql_ident(n)} {t}" for n, t in columns) + ");",
                 # Our own names only: a \copy line ends at its newline.
                 f"\\copy {table} FROM '{file}'"]
        export = _export_command(rel, [n for n, _ in columns], file)
        if chosen:
            exports.append(export)
            stage_sql.extend(lines)
            staged_tables.append(staged)
        else:
            optional.append("# optional, to restore it too: " + export)
            optional_sql.extend("-- " + line for line in lines)
        return staged

    for rel, chosen in [(r, True) for r in fk_order(rows)] + [(r, False) for r in churn]:
        key = rel.primary_key
        old = before.get((rel.schema_name, rel.name))
        had = {c.name for c in old.columns} if old else None
        cols = [c for c in rel.columns if not c.generated and (had is None or c.name in had)]
        if not key:
            if chosen:
                staged = stage(rel, "rows", [(c.name, c.type) for c in cols])
                kept.append(staged)
                subjects.append(rel.qualified)
                predict(rel, "same")
                manual.append(f"{rel.qualified} has no primary key: its restored rows are "
                              f"staged in {staging}.{staged} but cannot be matched to the "
                              "current rows by key; compare and insert them by hand")
            continue
        staged = stage(rel, "rows", [(c.name, c.type) for c in cols], chosen)
        target = sql_qualified(rel.schema_name, rel.name)
        names = ", ".join(sql_ident(c.name) for c in cols)
        insert = [sql_comment(f"{target}: insert the restored rows whose primary key is "
                              "absent now (existing rows are left as they are)"),
                  f"INSERT INTO {target} ({names}) OVERRIDING SYSTEM VALUE",
                  f"SELECT {', '.join('r.' + sql_ident(c.name) for c in cols)} "
                  f"FROM {sql_qualified(staging, staged)} AS r",
                  f"WHERE NOT EXISTS (SELECT FROM {target} AS p WHERE "
                  f"{_key_match(key)});"]
        if chosen:
            subjects.append(rel.qualified)
            body += insert
            predict(rel, "missing_keys", key=list(key))
        else:
            optional_sql += ["-- " + line for line in insert]
    for (schema, table), lost in sorted(by_table.items()):
        rel = live[schema, table]
        old = before.get((schema, table))
        old_cols = {c.name: c for c in old.columns} if old else {}
        target = sql_qualified(schema, table)
        typed = [(c, old_cols[c.name]) for c in lost
                 if c.name in old_cols and not old_cols[c.name].generated]
        for c in lost:
            if c.name not in old_cols:
                manual.append(f"{c.qualified}: its type is not in this evidence; collect a "
                              "bundle from the restored copy and run `reportgen assess "
                              "--baseline restored.json`, which prints it in this script")
            elif old_cols[c.name].generated:
                manual.append(f"{c.qualified} was a generated column: re-create it with its "
                              "expression (from the migration or the restored copy's "
                              "definition); its values follow from it")
        if not typed:
            continue
        subjects += [c.qualified for c, _ in typed]
        key = rel.primary_key
        if not key or any(k not in old_cols for k in key):
            manual.append(f"{rel.qualified}: no primary key shared with the copy, so the "
                          "values of " + ", ".join(c.name for c, _ in typed)
                          + " cannot be matched to rows; re-add the columns and fill them by "
                          "hand")
            continue
        predict(rel, "same", columns=[c.name for c, _ in typed])
        key_cols = [(k, next(c.type for c in rel.columns if c.name == k)) for k in key]
        staged = stage(rel, "columns", key_cols + [(c.name, col.type) for c, col in typed])
        body.append(sql_comment(f"{target}: re-add the dropped column(s), filled by "
                                "primary key from the restored copy"))
        body += [f"ALTER TABLE {target} ADD COLUMN {sql_ident(c.name)} {col.type};"
                 for c, col in typed]
        sets = ", ".join(f"{sql_ident(c.name)} = r.{sql_ident(c.name)}" for c, _ in typed)
        body.append(f"UPDATE {target} AS p SET {sets} FROM {sql_qualified(staging, staged)} "
                    f"AS r WHERE {_key_match(key)};")
        after_commit += [f"ALTER TABLE {target} ALTER COLUMN {sql_ident(c.name)} SET NOT NULL;"
                         for c, col in typed if col.not_null]
    repaired = bool(body)
    if optional_sql:
        body += ["-- Left out by default: tables that remove rows by design (their counters "
                 "showed deletes before the incident). To put their rows back too, run their "
                 "optional export command and remove the leading '-- ' below.",
                 *optional_sql]
    schema_sql = sql_ident(staging)
    if kept:
        cleanup = [f"-- {staging} is kept: compare its rows by hand, then "
                   f"DROP SCHEMA {schema_sql} CASCADE;"]
    else:
        cleanup = [f"DROP TABLE {sql_qualified(staging, t)};" for t in staged_tables]
        cleanup.append(f"DROP SCHEMA {schema_sql};")
    script = [*SCRIPT_HEADER,
              "-- Run against production, in the folder holding the exported *.copy files. "
              "One transaction: on any error psql stops and nothing changes.",
              "BEGIN;",
              f"-- A schema of this script's own: CREATE fails, and the script stops, if "
              f"{staging} already exists.",
              f"CREATE SCHEMA {schema_sql};", *stage_sql, *body, *cleanup, "COMMIT;"]
    if after_commit:
        script += ["-- NOT NULL as before, once every row has a value (a row written since "
                   "the column was dropped has none: give it one, then run these)",
                   *after_commit]
    commands = [chained([*exports, _psql('"$PRODUCTION_DSN"', "-f", "repair.sql")]),
                *optional]
    steps = ["Have a copy from before the incident (the point-in-time option, or a logical "
             "backup restored into a new database); set RESTORED_DSN to it and PRODUCTION_DSN "
             "to production.",
             "Run the shell file below: it writes the restored rows into files beside it (the "
             "copy is only read), then runs repair.sql in production, stopping at the first "
             "error.",
             (f"repair.sql, in one transaction: creates the staging schema {staging} (it "
              "stops if that exists), loads the files, inserts only rows whose primary key is "
              "missing, fills re-added columns by primary key, and drops the staging schema."
              if repaired and not kept else
              f"repair.sql, in one transaction: creates the staging schema {staging} (it "
              "stops if that exists) and loads the files into it"
              + (", then puts back what can be matched by key." if repaired else ".")),
             "Check the result (verification)."]
    if manual:
        steps.append("By hand: " + "; ".join(manual) + ".")
    return RecoveryOption(
        id="repair_rows_columns",
        undo="repair.sql commits whole or not at all; to take a committed repair back, delete "
             "the rows whose keys it inserted (compare a bundle taken before with one taken "
             "after), or restore the tables from the copy.",
        title="Selective repair: put back deleted rows and dropped columns, by primary key",
        applies_when="Tables still exist but rows were deleted from them or columns dropped, "
                     "and a copy from before the incident exists.",
        steps=steps, commands=commands, script="\n".join(script), script_file="repair.sql",
        pros=["Rows written since the incident are kept: only missing keys are inserted, and "
              "re-added columns are filled by key.",
              "No table is dropped or replaced; on any error nothing changes."],
        cons=["A key deleted and then reused by a new row keeps the new row.",
              "Rows changed (not deleted) since the copy are not compared.",
              "Triggers on these tables fire for the inserted rows, as the role that runs "
              "repair.sql: when the tables' owner is not trusted, run it as that owner, not "
              "as a superuser. Indexes and defaults of re-added columns come back only from "
              "their migration or definition."],
        data_loss_risk="MEDIUM", expected_time="30 minutes – 2 hours",
        verification=_repair_verification(ctx),
        subjects=subjects, predicted_rows=predicted)


def _last_seen(ctx: Context, lost: list[Relation]) -> str:
    """When and with how many rows the baseline last saw the lost tables."""
    assert ctx.baseline is not None
    taken = ctx.baseline.collection.started_at
    rows = ", ".join(f"{t.qualified} {t.exact_rows:,} rows (count(*))" if t.exact_rows
                     is not None else f"{t.qualified} ~{t.row_estimate:,} rows (estimate)"
                     if t.row_estimate is not None else f"{t.qualified} (rows unknown)"
                     for t in lost)
    return (f"Last seen in the baseline taken {taken:%Y-%m-%d %H:%M:%S} UTC: {rows}. A copy "
            "from that time or later (before the loss) holds them.")


def _repair_verification(ctx: Context) -> list[str]:
    """After a selective repair: a bundle of the repaired database, compared with the copy."""
    return [NextCommands.of(ctx.bundle).collect("repaired.json", "--exact-counts"),
            "reportgen diff restored.json repaired.json"]


def _dump_command(tables: list[TableName]) -> str:
    """pg_dump of exactly these tables: one quoted -t pattern each (a name's dots, quotes,
    case and wildcards are literal in it), --strict-names so a pattern that matches nothing
    fails instead of silently dumping less."""
    flags = [w for t in tables for w in ("-t", pg_dump_pattern(t.schema_name, t.name))]
    return sh("pg_dump", "--format=custom", "--no-owner", "--strict-names", *flags,
              P('"$RESTORED_DSN"'), "-f", "lost-tables.dump")


_RESTORE_COMMAND = sh("pg_restore", "--single-transaction", "--no-owner", "-d",
                      P('"$PRODUCTION_DSN"'), "lost-tables.dump")


def build_recovery(ctx: Context, findings: list[Finding],
                   timeline: list[TimelineEntry]) -> list[RecoveryOption]:
    options = [o for o in (_refake(ctx), _fix_reference(ctx), _selective_repair(ctx, findings),
                           _repair_rows_and_columns(ctx, findings), _tenant_repair(ctx))
               if o is not None]
    if ctx.bundle.identity is not None and any(
            f.dimension in ("data", "schema", "migration") and f.severity in ("HIGH", "CRITICAL")
            for f in findings):
        options.append(_pitr(ctx, timeline, findings))
    return with_fix_files(choose_recommended(options, findings, ctx.fw.tracker), ctx.bundle)


def _tenant_repair(ctx: Context) -> RecoveryOption | None:
    """Schema per tenant: each tenant's own fix (its records through Django's recorder on
    that schema alone, or migrate_schemas for it), one file for every tenant that has one."""
    m = ctx.tenants
    if m is None or m.error is not None:
        return None
    rows = [r for r in m.rows if any(c.startswith("python ") for c in r.fix)]
    if not rows:
        return None
    left = [r for r in rows if r.undecided]
    others = [r for r in m.rows if r not in rows and r.verdict not in ("ok", "not_judged")]
    checks = [sh("python", "manage.py", "migrate_schemas", f"--schema={r.schema_name}",
                 "--check") for r in rows if not r.undecided]
    return RecoveryOption(
        id="tenant_repair", title=f"Repair {len(rows)} tenant schema(s), each on its own",
        applies_when="Tenant schemas are behind, or their migration records are missing "
        "while their schema is present (the tenant matrix).",
        steps=[f"{r.schema_name}: {WORDS[r.verdict]} — "
               + ("record the migrations its schema shows ran (Django's MigrationRecorder on "
                  "that schema alone)" if r.fix_plan else "run migrate_schemas for it")
               + (f"; {len(r.undecided)} left for a decision (tenant matrix)" if r.undecided
                  else "")
               for r in rows[:SHOWN]]
        + ([f"… and {len(rows) - SHOWN} more tenant(s): every command is in the file"]
           if len(rows) > SHOWN else []),
        commands=[c for r in rows for c in r.fix if c.startswith("python ")],
        in_project=True,
        pros=["Each tenant is judged and fixed on its own: no tenant's records are written "
              "from another's evidence.",
              "Records only where the tenant's schema shows the migration ran; runs "
              "migrate_schemas only for a tenant that is behind with nothing lost."],
        cons=([f"{len(left)} tenant(s) keep migrations left for a decision (tenant matrix)."]
              if left else [])
        + ([f"{len(others)} other tenant schema(s) need what this cannot do (restore, or a "
            "decision): see the tenant matrix."] if others else []),
        data_loss_risk="LOW", expected_time="seconds per tenant",
        verification=checks[:10] + ([f"… the same for {len(checks) - 10} more tenant(s)"]
                                    if len(checks) > 10 else []),
        outcome=[f"`migrate_schemas --schema=S --check` exits 0 for each of the {len(checks)} "
                 "tenant(s) with nothing left for a decision."] if checks else [],
        subjects=[r.schema_name for r in rows],
        predicted_tenants={r.schema_name: sorted(r.undecided) for r in rows})


def choose_recommended(options: list[RecoveryOption], findings: list[Finding],
                       tracker: str = "django_migrations") -> list[RecoveryOption]:
    """Rules, in order:
    1. data gone (tables missing per migrations, dropped since the baseline or per the server
       log; rows or columns gone from tables that remain) → the point-in-time copy, then the
       selective repairs that apply; never a fake;
    2. records missing with a verified fake plan → re-record the verified migrations;
    3. otherwise, nothing is recommended by default.
    """
    ids = {f.id for f in findings}
    by_id = {o.id: o for o in options}
    pick, why = None, ""
    lost = [f for f in findings if f.id in LOST_TABLE_FINDINGS]
    repairs = [by_id[i] for i in REPAIRS if i in by_id]
    pitr = by_id.get("pitr_new_branch")
    if (lost or repairs) and pitr is not None and pitr.ruled_out is None:
        pick = "pitr_new_branch"
        what = []
        if lost:
            gone = sorted({s for f in lost for s in f.subjects})
            what.append(f"tables are gone ({', '.join(gone)})")
        if "repair_rows_columns" in by_id:
            what.append("rows or columns are gone from tables that remain ("
                        + ", ".join(by_id["repair_rows_columns"].subjects) + ")")
        label = {"selective_repair": "selective repair", "repair_rows_columns": "the row and "
                 "column repair"}
        then = "".join(f"; then {label[o.id]} of {', '.join(o.subjects)}" for o in repairs
                       if o.subjects)
        why = f"{'; '.join(what)}; only a copy from before the incident holds the data{then}"
    tenants_lost = [f for f in findings if f.id in ("tenant.schema_missing",
                                                    "tenant.schema_absent")]
    if pick is None and tenants_lost and pitr is not None and pitr.ruled_out is None:
        pick = "pitr_new_branch"
        gone = sorted({s for f in tenants_lost for s in f.subjects})
        why = (f"tenant schemas lost what their migrations created ({', '.join(gone[:8])}"
               + (" …" if len(gone) > 8 else "") + "); only a copy from before the incident "
               "holds their data" + ("; then the tenant repairs" if "tenant_repair" in by_id
                                     else ""))
    elif pick is None and "tenant_repair" in by_id and not lost:
        pick = "tenant_repair"
        why = ("every tenant it acts on was reconciled on its own: each command records "
               "migrations whose schema is present in that schema, or runs migrate_schemas "
               "for a tenant that is only behind")
    elif pick is None and ids & {"migration.records_missing", "migration.failed_run"} \
            and "refake_verified" in by_id:
        pick = "refake_verified"
        unit = "revision to stamp" if tracker == "alembic_version" else "migration to re-record"
        why = f"the schema is present and every {unit} was checked against it; " \
              f"this writes only {tracker} rows"
    if pick == "tenant_repair" and ids & {"migration.records_missing",
                                          "migration.failed_run"} and "refake_verified" in by_id:
        by_id["refake_verified"].recommended = True  # the shared schema's own records first
        by_id["refake_verified"].why = "the shared schema's records: its schema is present"
    for o in options:
        if o.id == pick:
            o.recommended, o.why = True, why
    return sorted(options, key=lambda o: (not o.recommended, OPTION_ORDER.index(o.id)))


#: The repairs that follow a point-in-time copy, in the order they run.
REPAIRS = ("selective_repair", "repair_rows_columns")
OPTION_ORDER = ["pitr_new_branch", "selective_repair", "repair_rows_columns", "refake_verified",
                "tenant_repair", "fix_dangling_reference"]


def _what_remains(ctx: Context, options: list[RecoveryOption]) -> str:
    """The verify step's test: what the re-run may still show once the fix is done, so a
    fixed database passes it. Migrations the plan leaves for a decision keep their findings."""
    left: list[str] = []
    rec = ctx.rec
    if rec is not None:
        planned = set(rec.fake_plan) if any(o.id == "refake_verified" and o.recommended
                                            for o in options) else set()
        left = [f"{s.label}" for s in rec.statuses if not s.recorded and s.in_code
                and (s.app, s.name) not in planned and s.state not in ("pending",)
                and s.app not in ctx.tenant_apps]
    if not left:
        return "no HIGH or CRITICAL finding remains"
    return ("no HIGH or CRITICAL finding remains other than those naming the "
            f"{len(left)} migration(s) left for your decision ({_few(left)})")


def _few(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more"
                                       if len(items) > limit else "")


def _uses_django(ctx: Context) -> bool:
    m = ctx.bundle.migrations
    return m is not None and m.django.table_present


def build_action_plan(ctx: Context, findings: list[Finding],
                      options: list[RecoveryOption]) -> list[ActionPhase]:
    ids = {f.id for f in findings}
    immediate = [ActionItem(text="Keep this evidence bundle with the incident "
                                 "(`reportgen archive`); it is the baseline for every later step.")]
    if "production.deploy_blocked" in ids:
        immediate.append(ActionItem(text=f"Pause deploys that run `{ctx.fw.apply}`.",
                                    verify="No pipeline runs migrations until the fix phase ends."))
    if "production.dropped_during_collection" in ids:
        immediate.append(ActionItem(text="Find and stop the session that is dropping objects "
                                    "(see Risks), then collect again.",
                                    verify="A new bundle lists the same relations as this one"))
    if "production.relations_locked" in ids:
        immediate.append(ActionItem(text="Find and end the session holding ACCESS EXCLUSIVE "
                                    "locks (see Risks).",
                                    verify="SELECT * FROM pg_locks WHERE NOT granted; is empty"))
    pitr = next((o for o in options if o.id == "pitr_new_branch"), None)
    damaged = any(f.severity in ("HIGH", "CRITICAL") for f in findings)
    if pitr is not None and pitr.ruled_out is not None:
        immediate.append(ActionItem(text="Point-in-time restore is ruled out ("
                                    + pitr.ruled_out + "): find the newest logical backup or "
                                    "snapshot from before the incident."))
    elif damaged and (pitr is not None or "data.no_baseline" in ids):
        immediate.append(ActionItem(text="Create a point-in-time copy from before the incident "
                                    "now, while it is inside the retention window.",
                                    verify="A bundle collected from it loads in `reportgen diff`"))
    fix = []
    chosen = {o.id for o in options if o.recommended}
    if "pitr_new_branch" in chosen:
        chosen |= {*REPAIRS, "tenant_repair"}
    for o in options:
        if o.id in chosen or o.id == "fix_dangling_reference":
            # The option's first file is the one to run (the others are what it runs, or
            # the same change another way).
            for f in o.files[:1]:
                fix.append(ActionItem(text=f"Run {f.name} (sha256 {f.sha256[:12]}…):",
                                      command=f.run))
            fix.append(ActionItem(text=f"Complete: {o.title}.",
                                  verify="; ".join(o.verification)))
    verify = []
    run = NextCommands.of(ctx.bundle)
    if ctx.fw.key == "alembic" and ctx.rec is not None:
        verify.append(ActionItem(text=f"`{alembic_command(ctx, 'current')}` shows the "
                                      "revision(s) the fix stamped.",
                                 verify="no \"Can't locate revision\""))
    elif _uses_django(ctx):  # manage.py steps only for a database Django migrates
        migrate = "migrate_schemas" if ctx.tenants is not None else "migrate"
        verify.append(ActionItem(text=f"`{run.manage(migrate, '--plan')}` shows only "
                                      "intended migrations.",
                                 verify="no InconsistentMigrationHistory"))
    verify.append(ActionItem(text=f"Re-run `{run.assess('--baseline', 'evidence.json')}` "
                                  + ("on the repaired database." if fix else
                                     "after any change: this bundle is its baseline."),
                             verify=_what_remains(ctx, options)))
    prevent = [ActionItem(text="Collect a baseline bundle before risky operations "
                               f"(`{run.collect('before.json')}` in the deploy hook).")]
    cb = ctx.bundle.codebase
    if cb is not None:
        for s in cb.destructive_scripts:
            prevent.append(ActionItem(
                text=f"Remove or guard {s.path}: it contains {', '.join(s.statements)} "
                     f"(line {s.line})."))
    prevent.append(ActionItem(text="Log DDL on the server (`log_statement = 'ddl'` at least; "
                                   "'mod' also records TRUNCATE and DELETE) so the next "
                                   "timeline comes from evidence."))
    ident = ctx.bundle.identity
    guard = restore_for(ident.provider.name).prevent if ident else None
    if guard:
        prevent.append(ActionItem(text=guard))
    if ident and ident.is_superuser:
        prevent.append(ActionItem(text="Give scripts and responders a read-only role; this "
                                       "evidence was collected as a superuser."))
    return [ActionPhase(phase="immediate", title="Immediate (next 30 minutes)", items=immediate),
            ActionPhase(phase="fix", title="Fix", items=fix or [ActionItem(
                text="No fix is recommended by the evidence.")]),
            ActionPhase(phase="verify", title="Verify", items=verify),
            ActionPhase(phase="prevent", title="Prevent", items=prevent)]
