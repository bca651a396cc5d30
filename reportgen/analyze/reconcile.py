"""Migration reconciliation: what the codebase expects vs what the database records vs what the
schema holds. Pure: bundle in, per-migration status out.

The expected state is rebuilt by replaying the scanned operations in dependency order; each
operation's schema effects (tables, columns, indexes, constraints) are checked against the
inventory, skipping effects a later migration undoes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from reportgen.analyze.model import EffectCheck, MigrationStatus
from reportgen.bundle import EvidenceBundle, MigrationFile, MigrationRecord, Relation
from reportgen.quoting import shell_command, sql_literal, sql_qualified

Key = tuple[str, str]  # (app, migration name)


@dataclass
class ModelState:
    app: str
    model: str
    table: str
    columns: dict[str, str] = field(default_factory=dict)  # field name → column
    m2m: dict[str, str] = field(default_factory=dict)  # field name → through table
    has_table: bool = True
    created_by: Key | None = None


@dataclass
class Effect:
    kind: str  # table, column, index, constraint
    table: str
    name: str | None = None  # column / index / constraint
    present: bool = True  # expected presence after this operation

    def label(self) -> str:
        if self.kind == "table":
            return f"table {self.table}"
        if self.kind == "column":
            return f"column {self.table}.{self.name}"
        return f"{self.kind} {self.name} on {self.table}"

    def key(self) -> tuple[str, str, str | None]:
        return (self.kind, self.table, self.name)


@dataclass
class DanglingReference:
    migration: Key
    field: str
    target: str
    expected_table: str
    similar: list[str]


@dataclass
class Reconciliation:
    statuses: list[MigrationStatus]
    order: list[Key]
    checks: dict[Key, list[EffectCheck]]
    models: dict[tuple[str, str], ModelState]
    expected_tables: dict[str, str]  # table → app, from the final replayed state
    created_by: dict[str, Key]  # table → migration that creates it
    inconsistent: list[tuple[Key, Key]]  # (applied migration, its unapplied dependency)
    dangling_dependencies: list[tuple[Key, Key]]
    dangling_references: list[DanglingReference]
    cycles: list[str]
    code_apps: set[str]
    fake_plan: list[Key]
    fake_blocked: dict[Key, str]  # unrecorded migration → why it cannot be faked
    # Once the plan is recorded: what Django's migrate --plan will list (dependency order),
    # and (applied, unrecorded dependency) pairs that still make the history inconsistent.
    after_unapplied: list[Key]
    after_inconsistent: list[tuple[Key, Key]]


def live_tables(bundle: EvidenceBundle) -> dict[str, Relation] | None:
    """Tables in the schema Django uses (django_migrations' schema, else public, else any)."""
    if bundle.inventory is None:
        return None
    schema = None
    if bundle.migrations and bundle.migrations.django.schema_name:
        schema = bundle.migrations.django.schema_name
    rels = bundle.inventory.relations
    schemas = {r.schema_name for r in rels}
    if schema is None:
        schema = "public" if "public" in schemas or not schemas else sorted(schemas)[0]
    return {r.name: r for r in rels if r.schema_name == schema}


def topo_order(migs: dict[Key, MigrationFile]) -> tuple[list[Key], list[str]]:
    """Deterministic topological order (Kahn), dependencies first; reports cycles."""
    deps: dict[Key, set[Key]] = {k: set() for k in migs}
    for k, m in migs.items():
        for d in resolve_deps(m, migs):
            if d in migs:
                deps[k].add(d)
        for rb in m.run_before:
            if rb in migs:
                deps[rb].add(k)
    order: list[Key] = []
    ready = sorted(k for k, d in deps.items() if not d)
    remaining = {k: set(d) for k, d in deps.items()}
    dependents: dict[Key, set[Key]] = defaultdict(set)
    for k, ds in deps.items():
        for d in ds:
            dependents[d].add(k)
    while ready:
        k = ready.pop(0)
        order.append(k)
        for child in sorted(dependents[k]):
            remaining[child].discard(k)
            if not remaining[child] and child not in order and child not in ready:
                ready.append(child)
                ready.sort()
    cycles = [f"{a}.{n}" for (a, n) in sorted(set(migs) - set(order))]
    return order + sorted(set(migs) - set(order)), cycles


def resolve_deps(m: MigrationFile, migs: dict[Key, MigrationFile]) -> list[Key]:
    out = []
    for app, name in m.dependencies:
        if name in ("__first__", "__latest__") and app == m.app:
            continue  # Django ignores these on the migration's own app (#22325)
        if name in ("__first__", "__latest__"):
            names = sorted(n for (a, n) in migs if a == app)
            if names:
                out.append((app, names[0] if name == "__first__" else names[-1]))
            else:
                out.append((app, name))
        else:
            out.append((app, name))
    return out


def apply_replacements(migs: dict[Key, MigrationFile], records: dict[Key, MigrationRecord]
                       ) -> tuple[dict[Key, MigrationFile], dict[Key, MigrationRecord], set[Key]]:
    """Squashed migrations, exactly as Django's MigrationLoader.build_graph treats them.

    A squash counts as applied only if every migration it replaces is recorded; it is used
    (and the replaced nodes dropped) when all or none of them are, otherwise the replaced
    migrations stay and the squash is dropped. Dependencies on dropped nodes point at the
    node that replaced them.
    """
    migs = dict(migs)
    records = dict(records)
    replaced_names: set[Key] = set()
    for key, m in sorted(migs.items()):
        if not m.replaces or key not in migs:
            continue
        targets = [(a, n) for a, n in m.replaces]
        replaced_names.update(targets)
        applied = [t in records for t in targets]
        if all(applied):
            last = max((records[t] for t in targets),
                       key=lambda r: (r.applied is not None, r.applied))
            records[key] = MigrationRecord(app=key[0], name=key[1], applied=last.applied)
        else:
            records.pop(key, None)
        if all(applied) or not any(applied):
            for t in targets:
                migs.pop(t, None)
            remap = {t: key for t in targets}
        else:
            migs.pop(key, None)
            remap = {}
        if remap:
            for k, other in list(migs.items()):
                deps = [remap.get((a, n), (a, n)) for a, n in other.dependencies]
                if deps != list(other.dependencies):
                    migs[k] = other.model_copy(update={"dependencies": deps})
    return migs, records, replaced_names


def reconcile(bundle: EvidenceBundle) -> Reconciliation | None:
    if bundle.codebase is None:
        return None
    migs = {(m.app, m.name): m for m in bundle.codebase.migrations}
    code_apps = {m.app for m in bundle.codebase.migrations}
    records: dict[Key, MigrationRecord] = {}
    if bundle.migrations and bundle.migrations.django.table_present:
        records = {(r.app, r.name): r for r in bundle.migrations.django.records}
    migs, records, replaced = apply_replacements(migs, records)
    live = live_tables(bundle)
    all_indexes = {i for r in (live or {}).values() for i in r.indexes}
    order, cycles = topo_order(migs)

    models: dict[tuple[str, str], ModelState] = {}
    effects: dict[Key, list[Effect]] = {}
    opaque: dict[Key, list[str]] = defaultdict(list)
    created_by: dict[str, Key] = {}
    fk_targets: list[tuple[Key, str, str]] = []
    from_state = all(migs[k].creates is not None for k in order) and bool(order)
    resolved: set[tuple[Key, str]] = set()  # FK fields whose target existed back then
    for key in order:
        m = migs[key]
        eff: list[Effect] = []
        first_fk = len(fk_targets)
        for op in m.operations:
            changes = _apply(op, m, key, models, created_by, opaque, fk_targets)
            if not op.state_only:  # state_operations change the models, not the database
                eff.extend(changes)
        for k, fld, target in fk_targets[first_fk:]:
            # Judged against the state right after this migration, not the final one: a
            # model renamed or deleted later was there when the reference was made.
            app, _, model = target.partition(".")
            if (app, model.lower()) in models:
                resolved.add((k, fld))
        if m.creates is not None and m.removes is not None:
            # The framework's own states said what this migration does: no replay of ours.
            eff = [Effect(o.kind, o.table, o.name) for o in m.creates] + \
                  [Effect(o.kind, o.table, o.name, present=False) for o in m.removes]
            opaque[key] = [op.op for op in m.operations if op.opaque]
        effects[key] = eff

    if from_state:
        final_tables, created_by = _tables_from_effects(order, effects)
    else:
        final_tables = {pg_identifier(s.table): s.app for s in models.values() if s.has_table}
        for s in models.values():
            if s.has_table:
                for through in s.m2m.values():
                    final_tables[pg_identifier(through)] = s.app
    superseded = _superseded(order, effects)

    checks: dict[Key, list[EffectCheck]] = {}
    statuses: list[MigrationStatus] = []
    for key in order:
        m = migs[key]
        ch: list[EffectCheck] = []
        for i, e in enumerate(effects[key]):
            exp = "present" if e.present else "absent"
            if (key, i) in superseded:
                ch.append(EffectCheck(effect=e.label(), expected=exp, found="superseded"))
                continue
            ch.append(EffectCheck(effect=e.label(), expected=exp,
                                  found=_found(e, live, all_indexes)))
        checks[key] = ch
        statuses.append(_classify(key, m, ch, opaque[key], records.get(key)))
    by_key = {(s.app, s.name): s for s in statuses}
    _evidence_from_descendants(order, migs, by_key, checks, opaque)
    _inherit_pending(order, migs, by_key)

    for key, rec in records.items():
        if key in migs or key in replaced:  # replaced by a squash: not a ghost
            continue
        in_scan = key[0] in code_apps
        statuses.append(MigrationStatus(
            app=key[0], name=key[1], in_code=False, recorded=True, applied_at=rec.applied,
            state="ghost_record" if in_scan else "recorded_not_in_scan", fake="not_applicable"))

    inconsistent = []
    dangling_deps = []
    for key in order:
        for dep in resolve_deps(migs[key], migs):
            if dep not in migs:
                if dep[0] in code_apps:  # the app is scanned, the migration is not there
                    dangling_deps.append((key, dep))
                continue
            if key in records and dep not in records:
                inconsistent.append((key, dep))

    dangling_refs = _dangling_references(
        [t for t in fk_targets if (t[0], t[1]) not in resolved], models, code_apps, live)
    fake_plan, blocked = _fake_plan(order, migs, by_key, records)
    after = set(records) | set(fake_plan)
    return Reconciliation(
        after_unapplied=[k for k in order if k not in after],
        after_inconsistent=[(k, d) for k in order if k in after
                            for d in resolve_deps(migs[k], migs) if d in migs and d not in after],
        statuses=statuses, order=order, checks=checks, models=models,
        expected_tables=final_tables, created_by=created_by, inconsistent=inconsistent,
        dangling_dependencies=dangling_deps, dangling_references=dangling_refs, cycles=cycles,
        code_apps=code_apps, fake_plan=fake_plan, fake_blocked=blocked)


def _apply(op, m, key, models, created_by, opaque, fk_targets) -> list[Effect]:  # type: ignore[no-untyped-def]
    """Replay one operation on the model state; return its schema effects."""
    app = m.app
    if op.opaque:
        opaque[key].append(op.op)
        return []
    mk = (app, (op.model or "?").lower())
    state = models.get(mk)
    if op.op == "CreateModel":
        table = op.table or f"{app}_{mk[1]}"
        st = ModelState(app=app, model=op.model or "?", table=table, created_by=key,
                        has_table=op.detail is None)
        models[mk] = st
        if not st.has_table:
            return []
        created_by.setdefault(table, key)
        eff = [Effect("table", table)]
        for f in op.fields:
            if not f.modelled:
                opaque[key].append(f"field {op.model}.{f.name}: {f.kind} (not modelled)")
                continue
            if f.target:
                fk_targets.append((key, f"{mk[1]}.{f.name}", f.target))
            if f.column is None and f.through:
                continue  # an explicit through model: its own CreateModel makes the table
            if f.column is None:
                through = f"{table}_{f.name}"
                st.m2m[f.name] = through
                created_by.setdefault(through, key)
                eff.append(Effect("table", through))
            else:
                st.columns[f.name] = f.column
                eff.append(Effect("column", table, f.column))
        return eff
    if state is None or not state.has_table:
        if op.op in ("AddField", "AlterField", "RemoveField", "RenameField", "AddIndex",
                     "AddConstraint", "RemoveIndex", "RemoveConstraint", "DeleteModel",
                     "RenameModel", "AlterModelTable"):
            opaque[key].append(f"{op.op} on unknown model {app}.{op.model}")
        return []
    t = state.table
    if op.op in ("AddField", "AlterField"):
        out = []
        for f in op.fields:
            if not f.modelled:
                opaque[key].append(f"field {op.model}.{f.name}: {f.kind} (not modelled)")
                continue
            if f.target:
                fk_targets.append((key, f"{op.model}.{f.name}", f.target))
            if f.column is None and f.through:
                continue
            if f.column is None:
                through = f"{t}_{f.name}"
                state.m2m[f.name] = through
                out.append(Effect("table", through))
            else:
                old = state.columns.get(f.name)
                state.columns[f.name] = f.column
                if old == f.column and op.op == "AlterField":
                    continue  # the column stays what an earlier migration made it
                if old and old != f.column:
                    out.append(Effect("column", t, old, present=False))
                out.append(Effect("column", t, f.column))
        return out
    if op.op == "RemoveField":
        col = state.columns.pop(op.detail or "", None)
        through = state.m2m.pop(op.detail or "", None)
        if through:
            return [Effect("table", through, present=False)]
        return [Effect("column", t, col, present=False)] if col else []
    if op.op == "RenameField":
        old, _, new = (op.detail or "->").partition("->")
        col = state.columns.pop(old, None)
        if col is None:
            return []
        new_col = new if col == old else (new + "_id" if col == old + "_id" else col)
        state.columns[new] = new_col
        if new_col == col:
            return []
        return [Effect("column", t, col, present=False), Effect("column", t, new_col)]
    if op.op == "DeleteModel":
        state.has_table = False
        return [Effect("table", t, present=False)]
    if op.op in ("RenameModel", "AlterModelTable"):
        if op.op == "RenameModel":
            new_model = (op.detail or "->").partition("->")[2]
            default = f"{app}_{state.model.lower()}"
            models.pop(mk, None)
            state.model = new_model
            models[(app, new_model.lower())] = state
            # Django lower-cases the model name in the default table name.
            new_table = f"{app}_{new_model.lower()}" if t == default else t
        else:
            new_table = op.table or f"{app}_{state.model.lower()}"
        if new_table == t:
            return []
        state.table = new_table
        created_by.setdefault(new_table, key)
        return [Effect("table", t, present=False), Effect("table", new_table)]
    if op.op in ("AddIndex", "AddConstraint") and op.detail:
        return [Effect("index" if op.op == "AddIndex" else "constraint", t, op.detail)]
    if op.op in ("RemoveIndex", "RemoveConstraint") and op.detail:
        return [Effect("index" if op.op == "RemoveIndex" else "constraint", t, op.detail,
                       present=False)]
    return []


def _tables_from_effects(order: list[Key], effects: dict[Key, list[Effect]]
                        ) -> tuple[dict[str, str], dict[str, Key]]:
    """The tables that exist after every migration (table → app) and the migration that
    first creates each, from the migrations' effects in order."""
    tables: dict[str, str] = {}
    created_by: dict[str, Key] = {}
    for key in order:
        for e in effects[key]:
            if e.kind != "table":
                continue
            if e.present:
                tables[pg_identifier(e.table)] = key[0]
                created_by.setdefault(e.table, key)
            else:
                tables.pop(pg_identifier(e.table), None)
    return tables, created_by


def _superseded(order: list[Key], effects: dict[Key, list[Effect]]) -> set[tuple[Key, int]]:
    """Effects that a later migration reverses (so they are not checked against the DB)."""
    last: dict[tuple[str, str, str | None], tuple[Key, int]] = {}
    out: set[tuple[Key, int]] = set()
    for key in order:
        for i, e in enumerate(effects[key]):
            k = e.key()
            if k in last:
                out.add(last[k])
            if e.kind == "table" and not e.present:
                for other, pos in list(last.items()):
                    if other[1] == e.table and other[0] != "table":
                        out.add(pos)
            last[k] = (key, i)
    return out


NAMEDATALEN = 64


def pg_identifier(name: str) -> str:
    """What PostgreSQL stores for an identifier: at most NAMEDATALEN-1 bytes (it truncates
    longer names silently, on a character boundary)."""
    raw = name.encode("utf-8")
    if len(raw) < NAMEDATALEN:
        return name
    return raw[:NAMEDATALEN - 1].decode("utf-8", errors="ignore")


def _found(e: Effect, live: dict[str, Relation] | None, all_indexes: set[str]) -> str:
    if live is None:
        return "unknown"
    rel = live.get(pg_identifier(e.table))
    if e.kind == "table":
        return "present" if rel else "absent"
    if rel is None:
        return "absent"
    name = pg_identifier(e.name or "")
    if e.kind == "column":
        return "present" if any(c.name == name for c in rel.columns) else "absent"
    if e.kind == "index":
        return "present" if name in rel.indexes or name in all_indexes else "absent"
    return "present" if name in rel.constraints or name in rel.indexes else "absent"


def _classify(key: Key, m: MigrationFile, ch: list[EffectCheck], opaque: list[str],
              rec: object) -> MigrationStatus:
    def holds(c: EffectCheck) -> bool:
        return c.found == c.expected

    checked = [c for c in ch if c.found not in ("superseded", "unknown")]
    missing = [c.effect for c in checked if not holds(c)]
    present = [c.effect for c in checked if holds(c)]
    recorded = rec is not None
    applied_at = getattr(rec, "applied", None)
    deps = [f"{a}.{n}" for a, n in m.dependencies]
    base = dict(app=m.app, name=m.name, in_code=True, recorded=recorded, applied_at=applied_at,
                missing=missing, present=present, opaque=opaque, dependencies=deps, path=m.path)
    if any(c.found == "unknown" for c in ch):
        return MigrationStatus(**base, state="applied" if recorded else "unverifiable_unrecorded",
                               fake="not_applicable" if recorded else "unverifiable")
    if recorded:
        return MigrationStatus(**base, state="applied_schema_missing" if missing else "applied",
                               fake="not_applicable")
    if missing and any(holds(c) and c.expected == "present" for c in checked):
        return MigrationStatus(**base, state="partially_applied", fake="unsafe")
    if missing:
        return MigrationStatus(**base, state="pending", fake="unsafe")
    if opaque:
        return MigrationStatus(**base, state="unverifiable_unrecorded", fake="unverifiable")
    if ch and not any(c.expected == "present" and c.found == "present" for c in checked):
        # Verdicts rest on positive evidence: a removal found absent, or effects a later
        # migration undid, do not show that this migration ran (a dropped table looks the
        # same).
        why = ("no effect of it is visible: only removals, found absent, which prove nothing"
               if checked else "its effects were undone by later migrations: nothing to see")
        # The removals held are not evidence of anything: not listed as present.
        return MigrationStatus(**{**base, "opaque": [why], "present": []},
                               state="unverifiable_unrecorded", fake="unverifiable")
    return MigrationStatus(**base, state="schema_present_unrecorded", fake="safe")


def _evidence_from_descendants(order: list[Key], migs: dict[Key, MigrationFile],
                               by_key: dict[Key, MigrationStatus],
                               checks: dict[Key, list[EffectCheck]],
                               opaque: Mapping[Key, list[str]]) -> None:
    """Django applies migrations in dependency order: when something a later migration
    creates is present, every migration it depends on ran too. So a migration with no
    visible effect of its own (its table renamed later, a removal) is re-recordable when a
    descendant shows positive evidence; otherwise it stays unverifiable."""
    seen = {k for k, ch in checks.items()
            if any(c.expected == "present" and c.found == "present" for c in ch)}
    for key in reversed(order):  # descendants come later in the order
        if key in seen:
            for dep in resolve_deps(migs[key], migs):
                seen.add(dep)
    for key in order:
        st = by_key[key]
        # Unverifiable for want of evidence alone: no opaque operation, no unknown effect.
        no_evidence = st.state == "unverifiable_unrecorded" and not opaque[key] and all(
            c.found != "unknown" for c in checks[key])
        if key in seen and no_evidence:
            st.state, st.fake, st.opaque = "schema_present_unrecorded", "safe", []


def _inherit_pending(order: list[Key], migs: dict[Key, MigrationFile],
                     by_key: dict[Key, MigrationStatus]) -> None:
    """A migration with nothing to check is pending when one of its dependencies is."""
    for key in order:
        st = by_key[key]
        if st.recorded or st.present or st.missing:
            continue
        for dep in resolve_deps(migs[key], migs):
            d = by_key.get(dep)
            if d is not None and d.state in ("pending", "partially_applied"):
                st.state, st.fake = "pending", "unsafe"
                st.missing = [f"dependency {dep[0]}.{dep[1]} is {d.state.replace('_', ' ')}"]
                break


def _fake_plan(order: list[Key], migs: dict[Key, MigrationFile],
               by_key: dict[Key, MigrationStatus],
               records: Mapping[Key, object]) -> tuple[list[Key], dict[Key, str]]:
    """Unrecorded migrations that may be recorded with --fake, in dependency order.

    A migration joins the plan only if its own schema effects are all present and every
    unrecorded dependency is in the plan too (``migrate --fake`` records dependencies as well).
    """
    plan: list[Key] = []
    blocked: dict[Key, str] = {}
    in_plan: set[Key] = set()
    for key in order:
        st = by_key[key]
        if st.recorded:
            continue
        if st.fake != "safe":
            reason = {"unsafe": "schema effects missing: " + ", ".join(st.missing[:5]),
                      "unverifiable": "contains " + ", ".join(sorted(set(st.opaque)))
                      + " (cannot be verified from the schema)"}.get(st.fake, st.fake)
            blocked[key] = reason
            continue
        bad = [d for d in resolve_deps(migs[key], migs)
               if d not in records and d not in in_plan]
        if bad:
            blocked[key] = "depends on " + ", ".join(f"{a}.{n}" for a, n in bad) + \
                ", which cannot be recorded"
            st.fake = "blocked"
            continue
        plan.append(key)
        in_plan.add(key)
    return plan, blocked


def _dangling_references(fk_targets: list[tuple[Key, str, str]],
                         models: dict[tuple[str, str], ModelState], code_apps: set[str],
                         live: dict[str, Relation] | None) -> list[DanglingReference]:
    out = []
    seen = set()
    known_models = {(a, mdl) for (a, mdl) in models}
    for key, fld, target in fk_targets:
        app, _, model = target.partition(".")
        model = model.lower()
        if (app, model) in known_models or app not in code_apps:
            continue
        table = pg_identifier(f"{app}_{model}")
        if live is not None and table in live:
            continue
        if (key, fld) in seen:
            continue
        seen.add((key, fld))
        similar = sorted(f"{s.app}.{s.model} (table {s.table})" for s in models.values()
                         if s.model.lower() == model and s.has_table)
        out.append(DanglingReference(key, fld, target, table, similar))
    return out


def record_command(plan: list[Key]) -> str:
    """One ``manage.py shell -c`` command that records exactly these migrations with Django's
    own MigrationRecorder, in this order. Unlike ``migrate APP NAME --fake`` it works when the
    history is inconsistent (migrate checks consistency first and stops), and it records
    nothing else (``--fake`` also records every unapplied dependency of its target). Names
    are Python string literals (JSON's, which Python reads the same: double quotes, every
    control or non-ASCII character escaped) inside one shell word."""
    pairs = ", ".join(f"({json.dumps(a)}, {json.dumps(n)})" for a, n in plan)
    code = ("from django.db import connection; "
            "from django.db.migrations.recorder import MigrationRecorder; "
            "recorder = MigrationRecorder(connection); "
            f"[recorder.record_applied(app, name) for app, name in [{pairs}]]")
    return shell_command("python", "manage.py", "shell", "-c", code)


def fake_sql(plan: list[Key], schema: str | None) -> str:
    # Names from the database and the codebase: quoted so none can end the statement.
    table = sql_qualified(schema, "django_migrations") if schema else "django_migrations"
    lines = ["-- For review only: reportgen never runs this. Equivalent to the command above.",
             "BEGIN;"]
    for app, name in plan:
        lines.append(f"INSERT INTO {table} (app, name, applied) "
                     f"VALUES ({sql_literal(app)}, {sql_literal(name)}, pg_catalog.now());")
    lines.append("COMMIT;")
    return "\n".join(lines)
