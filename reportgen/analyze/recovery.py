"""Recovery options and the phased action plan, generated from findings and the provider.

Commands are printed for a human to review and run; reportgen never executes them. The
recommended option is chosen by the rules in ``choose_recommended`` (documented there).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reportgen.analyze.context import Context
from reportgen.analyze.model import (
    ActionItem,
    ActionPhase,
    Finding,
    RecoveryOption,
    TimelineEntry,
)
from reportgen.analyze.reconcile import fake_commands, fake_sql


def restore_point(timeline: list[TimelineEntry]) -> tuple[datetime | None, str]:
    """One minute before the first event of the responder's timeline."""
    responder = [e for e in timeline if e.source.startswith("timeline file")]
    if not responder:
        return None, ("no timeline file was given: choose a time before the first destructive "
                      "action yourself")
    first = min(responder, key=lambda e: e.time)
    when = first.time - timedelta(minutes=1)
    approx = " (that event's time is approximate: check it)" if first.approximate else ""
    return when, f"one minute before the first timeline event, '{first.event}'{approx}"


def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "<TIME-BEFORE-INCIDENT>"


def _pitr(ctx: Context, timeline: list[TimelineEntry]) -> RecoveryOption:
    ident = ctx.bundle.identity
    provider = ident.provider.name if ident else "unknown"
    when, why = restore_point(timeline)
    stamp = _iso(when)
    day = when.strftime("%Y%m%d-%H%M") if when else "before-incident"
    verify = ["reportgen collect --dsn <RESTORED-DSN> -o restored.json",
              "reportgen diff restored.json evidence.json"]
    if provider == "neon":
        ep = ident.provider.endpoint if ident else None
        steps = [f"Create a branch of the production branch as of {stamp} ({why}).",
                 "Connect to the new branch's endpoint (read-only use), collect a bundle and "
                 "compare it with the current one.",
                 "Decide: copy data back (selective repair) or point the application at the "
                 "branch. Production stays untouched until you decide."]
        commands = [f"neon branches create --name restore-{day} --parent {stamp}",
                    "neon connection-string restore-" + day]
        cons = ["Only within the project's history retention window (Free 6 h; Launch up to "
                "7 days; Scale up to 30 days).", "A new branch has its own compute and cost."]
        extra = f" (endpoint {ep})" if ep else ""
        title = f"Neon point-in-time branch{extra}"
    elif provider in ("rds", "aurora"):
        src = ident.provider.endpoint if ident and ident.provider.endpoint else "<instance-id>"
        if provider == "aurora":
            commands = [f"aws rds restore-db-cluster-to-point-in-time --source-db-cluster-"
                        f"identifier {src} --db-cluster-identifier {src}-restore-{day} "
                        f"--restore-to-time {stamp}"]
        else:
            commands = [f"aws rds restore-db-instance-to-point-in-time "
                        f"--source-db-instance-identifier {src} --target-db-instance-identifier "
                        f"{src}-restore-{day} --restore-time {stamp}"]
        steps = [f"Restore a new instance as of {stamp} ({why}).",
                 "Collect a bundle from it and compare with the current one."]
        cons = ["Bounded by the backup retention period (LatestRestorableTime).",
                "A new instance takes minutes to hours to become available."]
        title = "AWS RDS point-in-time restore to a new instance" if provider == "rds" else \
            "Aurora point-in-time restore to a new cluster"
    elif provider == "self-hosted":
        commands = ["# on a spare host, from the latest base backup taken before the incident:",
                    f"echo \"recovery_target_time = '{stamp}'\" >> postgresql.auto.conf",
                    "echo \"recovery_target_action = 'promote'\" >> postgresql.auto.conf",
                    "touch recovery.signal && pg_ctl -D <restored-datadir> start"]
        steps = [f"Restore the last base backup before {stamp} onto a spare host and replay "
                 f"WAL up to {stamp} ({why}).", "Collect a bundle from it and compare."]
        cons = ["Needs a base backup and continuous WAL archive covering the restore time."]
        title = "PostgreSQL point-in-time recovery on a separate host"
    else:
        commands = []
        steps = [f"Use {provider if provider != 'unknown' else 'your provider'}'s point-in-time "
                 f"restore to create a NEW instance as of {stamp} ({why}); never restore over "
                 "production.", "Collect a bundle from it and compare."]
        cons = ["Availability and window depend on the provider's backup settings."]
        title = "Point-in-time restore into a new instance"
    return RecoveryOption(
        id="pitr_new_branch", title=title,
        applies_when="Rows or tables may be lost, or the pre-incident state is needed for "
                     "comparison.",
        steps=steps, commands=commands,
        pros=["Production is not touched.", "Gives the baseline this report lacks: a "
              "row-by-row comparison becomes possible."],
        cons=cons, data_loss_risk="LOW", expected_time="15–60 minutes",
        verification=verify)


def _refake(ctx: Context) -> RecoveryOption | None:
    rec = ctx.rec
    if rec is None or not rec.fake_plan:
        return None
    schema = ctx.bundle.migrations.django.schema_name if ctx.bundle.migrations else None
    blocked = [f"{a}.{n}: {why}" for (a, n), why in rec.fake_blocked.items()
               if _unrecorded_with_schema(ctx, (a, n))]
    steps = ["Take a bundle first, as the baseline for this change: "
             "`reportgen collect --dsn ... -o before-refake.json`.",
             f"Record the {len(rec.fake_plan)} migration(s) whose every schema effect was "
             "verified present, in dependency order (commands below).",
             "Review the equivalent SQL below if you prefer to see exactly what is written: "
             "only django_migrations rows."]
    if blocked:
        steps.append("Do NOT fake these; each needs a decision first: " + "; ".join(blocked))
    return RecoveryOption(
        id="refake_verified", title="Re-record the verified migrations (migrate --fake)",
        applies_when="Tables are present and migration records are missing.",
        steps=steps, commands=fake_commands(rec.fake_plan),
        script=fake_sql(rec.fake_plan, schema),
        pros=["Writes only to django_migrations; no table is touched.", "Minutes to apply."],
        cons=["Fakes the recorded state only: data migrations (RunPython) that never ran are "
              "not run."] + (["Some migrations are excluded and need a decision."]
                             if blocked else []),
        data_loss_risk="LOW", expected_time="10–30 minutes",
        verification=["python manage.py showmigrations", "python manage.py migrate --plan",
                      "reportgen assess --baseline before-refake.json --out after-refake/"])


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
        commands.append(f"grep -n \"{d.target}\" {where}")
    steps.append("Then check the migration applies: python manage.py migrate --plan")
    return RecoveryOption(
        id="fix_dangling_reference", title="Fix the migration that references a missing model",
        applies_when="A migration points at a model/table that no migration creates.",
        steps=steps, commands=commands,
        pros=["Fixes the cause of the failed migrate.", "No database change."],
        cons=["A code change: review it like any migration change.",
              "If the migration was already applied elsewhere, coordinate the edit."],
        data_loss_risk="LOW", expected_time="30 minutes",
        verification=["python manage.py migrate --plan", "python manage.py makemigrations "
                      "--check --dry-run"])


def _selective_repair(ctx: Context, findings: list[Finding]) -> RecoveryOption | None:
    lost = [f for f in findings if f.id == "data.tables_missing"]
    if not lost:
        return None
    tables = lost[0].subjects
    flags = " ".join(f"-t {t}" for t in tables)
    return RecoveryOption(
        id="selective_repair", title="Copy the lost tables back from the restored copy",
        applies_when="Tables are gone and a point-in-time copy exists.",
        steps=["Create the restored copy (point-in-time option).",
               f"Dump only the lost tables from it: {', '.join(tables)}.",
               "Restore them into production inside a maintenance window."],
        commands=[f"pg_dump --format=custom {flags} <RESTORED-DSN> -f lost-tables.dump",
                  "pg_restore --single-transaction -d <PRODUCTION-DSN> lost-tables.dump"],
        pros=["Brings back exactly what was lost; other tables keep their current rows."],
        cons=["Rows written after the restore time to FK-dependent tables need checking."],
        data_loss_risk="MEDIUM", expected_time="1–3 hours",
        verification=["reportgen collect -o repaired.json", "reportgen diff restored.json "
                      "repaired.json"])


def build_recovery(ctx: Context, findings: list[Finding],
                   timeline: list[TimelineEntry]) -> list[RecoveryOption]:
    options = [o for o in (_refake(ctx), _fix_reference(ctx), _selective_repair(ctx, findings))
               if o is not None]
    if ctx.bundle.identity is not None and any(
            f.dimension in ("data", "schema", "migration") and f.severity in ("HIGH", "CRITICAL")
            for f in findings):
        options.append(_pitr(ctx, timeline))
    return choose_recommended(options, findings)


def choose_recommended(options: list[RecoveryOption],
                       findings: list[Finding]) -> list[RecoveryOption]:
    """Rules, in order:
    1. tables gone → the point-in-time copy (then selective repair), never a fake;
    2. records missing with a verified fake plan → re-record the verified migrations;
    3. otherwise, nothing is recommended by default.
    """
    ids = {f.id for f in findings}
    by_id = {o.id: o for o in options}
    pick, why = None, ""
    if "data.tables_missing" in ids and "pitr_new_branch" in by_id:
        pick = "pitr_new_branch"
        why = "tables created by recorded migrations are gone; only a copy from before the " \
              "incident holds their rows"
    elif "migration.records_missing" in ids and "refake_verified" in by_id:
        pick = "refake_verified"
        why = "the schema is present and every migration to re-record was checked against it; " \
              "this writes only django_migrations rows"
    for o in options:
        if o.id == pick:
            o.recommended, o.why = True, why
    return sorted(options, key=lambda o: not o.recommended)


def build_action_plan(ctx: Context, findings: list[Finding],
                      options: list[RecoveryOption]) -> list[ActionPhase]:
    ids = {f.id for f in findings}
    immediate = [ActionItem(text="Keep this evidence bundle with the incident "
                                 "(`reportgen archive`); it is the baseline for every later step.")]
    if "production.deploy_blocked" in ids:
        immediate.append(ActionItem(text="Pause deploys that run `migrate`.",
                                    verify="No pipeline runs migrations until the fix phase ends."))
    if "production.relations_locked" in ids:
        immediate.append(ActionItem(text="Find and end the session holding ACCESS EXCLUSIVE "
                                    "locks (see Risks).",
                                    verify="SELECT * FROM pg_locks WHERE NOT granted; is empty"))
    if any(f.dimension == "data" and f.severity in ("HIGH", "CRITICAL") for f in findings) \
            or "data.no_baseline" in ids:
        immediate.append(ActionItem(text="Create a point-in-time copy from before the incident "
                                    "now, while it is inside the retention window.",
                                    verify="A bundle collected from it loads in `reportgen diff`"))
    fix = []
    for o in options:
        if o.recommended or o.id == "fix_dangling_reference":
            for cmd in o.commands:
                fix.append(ActionItem(text="Run", command=cmd))
            fix.append(ActionItem(text=f"Complete: {o.title}.",
                                  verify="; ".join(o.verification)))
    verify = [ActionItem(text="`python manage.py migrate --plan` shows only intended "
                              "migrations.", verify="no InconsistentMigrationHistory"),
              ActionItem(text="Re-run `reportgen assess --baseline evidence.json` on the "
                              "repaired database.",
                         verify="no HIGH or CRITICAL findings remain")]
    prevent = [ActionItem(text="Collect a baseline bundle before risky operations "
                               "(`reportgen collect` in the deploy hook).")]
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
    if ident and ident.provider.name == "neon":
        prevent.append(ActionItem(text="Protect the production branch in Neon and keep the "
                                       "history retention window long enough to restore."))
    if ident and ident.is_superuser:
        prevent.append(ActionItem(text="Give scripts and responders a read-only role; this "
                                       "evidence was collected as a superuser."))
    return [ActionPhase(phase="immediate", title="Immediate (next 30 minutes)", items=immediate),
            ActionPhase(phase="fix", title="Fix", items=fix or [ActionItem(
                text="No fix is recommended by the evidence.")]),
            ActionPhase(phase="verify", title="Verify", items=verify),
            ActionPhase(phase="prevent", title="Prevent", items=prevent)]
