"""Django's migration operations replayed without importing the application: each
migration's schema effects for the static scan, written into the bundle as the objects it
creates and removes, the same fields Django mode fills from Django's own ProjectState.

The replay keeps a model state per (app, model) and applies the operations in the order
``migrate`` would (dependencies first, squashes as Django's loader uses them when nothing is
recorded). What it cannot model exactly is written as the migration's ``unverifiable``
reasons: a RunSQL or RunPython, an operation class of the app's own, a field class the scan
cannot read, an operation on a model it never saw. The analyzer never sees an operation: it
compares these objects with the catalog.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reportgen.bundle import FieldSpec, MigrationFile, ModelTable, SchemaObject
from reportgen.migration_graph import Key, apply_replacements, topo_order


@dataclass
class Effect:
    """One operation's change to one schema object (present: there after the operation)."""

    kind: str  # table, column, index, constraint, foreign_key, unique, indexed
    table: str
    name: str | None = None  # column / index / constraint
    present: bool = True
    columns: tuple[str, ...] | None = None  # foreign_key, unique, indexed
    ref: str | None = None  # foreign_key: the referenced table
    checkable: bool = True  # False: what the database did is not known

    def key(self) -> tuple[str, str, str | None, tuple[str, ...] | None]:
        return (self.kind, self.table, self.name, self.columns)


@dataclass
class ModelState:
    app: str
    model: str
    table: str
    columns: dict[str, str] = field(default_factory=dict)  # field name → column
    specs: dict[str, FieldSpec] = field(default_factory=dict)  # field name → its spec
    m2m: dict[str, str] = field(default_factory=dict)  # field name → through table
    has_table: bool = True



RELATION_KINDS = {"ForeignKey", "OneToOneField", "ParentalKey"}
#: Django's own operations (django.db.migrations and django.contrib.postgres): any other
#: class is an app's own (a DeleteModel subclass that checks first, say) whose effect the
#: static scan does not model.
KNOWN_OPERATIONS = {
    "CreateModel", "DeleteModel", "RenameModel", "AlterModelTable", "AlterModelTableComment",
    "AlterUniqueTogether", "AlterIndexTogether", "AlterOrderWithRespectTo",
    "AlterModelOptions", "AlterModelManagers", "AddField", "RemoveField", "AlterField",
    "RenameField", "AddIndex", "RemoveIndex", "RenameIndex", "AddConstraint",
    "RemoveConstraint", "AlterConstraint", "RunSQL", "RunPython", "SeparateDatabaseAndState",
    "CreateExtension", "BloomExtension", "BtreeGinExtension", "BtreeGistExtension",
    "CITextExtension", "CryptoExtension", "HStoreExtension", "TrigramExtension",
    "UnaccentExtension", "AddIndexConcurrently", "RemoveIndexConcurrently",
    "CreateCollation", "RemoveCollation", "AddConstraintNotValid", "ValidateConstraint",
}


def _key_effects(table: str, f: FieldSpec, models: dict[tuple[str, str], ModelState],
                 present: bool = True) -> list[Effect]:
    """The keys a field makes Django create: its foreign key (unless db_constraint=False),
    its unique constraint, or its index (db_index, a ForeignKey's default)."""
    if f.column is None or not f.modelled:
        return []
    out = []
    if f.target and f.kind in RELATION_KINDS and f.constraint:
        app, _, model = f.target.partition(".")
        target = models.get((app, model.lower()))
        out.append(Effect("foreign_key", table, present=present, columns=(f.column,),
                          ref=target.table if target else None))
    if f.unique:
        out.append(Effect("unique", table, present=present, columns=(f.column,)))
    elif f.indexed:
        out.append(Effect("indexed", table, present=present, columns=(f.column,)))
    return out


def _same_keys(a: list[Effect], b: list[Effect]) -> tuple[list[Effect], list[Effect]]:
    """Keys in ``a`` not in ``b``, and in ``b`` not in ``a``."""
    ka, kb = {e.key() for e in a}, {e.key() for e in b}
    return [e for e in a if e.key() not in kb], [e for e in b if e.key() not in ka]


def _without_column(f: FieldSpec, shown: str | None, model: str, table: str,
                    state: ModelState, key: Key, opaque: dict[Key, list[str]],
                    fk_targets: list[tuple[Key, str, str]]) -> list[Effect] | None:
    """What adding field ``f`` to ``model`` does when it is not a column of its own: the
    effects (a many-to-many join table; nothing for a field the scan cannot model, said in
    ``opaque``, or for an explicit through model, whose own CreateModel makes the table).
    None: it is a column, left to the caller. Its relation's target is recorded either way."""
    if not f.modelled:
        opaque[key].append(f"field {shown}.{f.name}: {f.kind} (not modelled)")
        return []
    if f.target:
        fk_targets.append((key, f"{model}.{f.name}", f.target))
    if f.column is not None:
        return None
    if f.through:
        return []
    through = f"{table}_{f.name}"
    state.m2m[f.name] = through
    return [Effect("table", through)]


def _apply(op, m, key, models, opaque, fk_targets) -> list[Effect]:  # type: ignore[no-untyped-def]
    """Replay one operation on the model state; return its schema effects."""
    app = m.app
    if op.opaque:
        opaque[key].append(op.op)
        return []
    mk = (app, (op.model or "?").lower())
    state = models.get(mk)
    if op.op not in KNOWN_OPERATIONS:
        opaque[key].append(f"{op.op} (the app's own operation: its effect is not modelled)")
        if state is not None and state.has_table:  # the model's table: unknown from here
            state.has_table = False  # never expected, so never "missing" (it may be gone)
            return [Effect("table", state.table, present=False, checkable=False)]
        return []
    if op.op == "CreateModel":
        table = op.table or f"{app}_{mk[1]}"
        st = ModelState(app=app, model=op.model or "?", table=table,
                        has_table=op.detail is None)
        models[mk] = st
        if not st.has_table:
            return []
        eff = [Effect("table", table)]
        for f in op.fields:
            other = _without_column(f, op.model, mk[1], table, st, key, opaque, fk_targets)
            if other is not None:
                eff += other
            else:
                st.columns[f.name] = f.column
                st.specs[f.name] = f
                eff.append(Effect("column", table, f.column))
                eff += _key_effects(table, f, models)
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
            other = _without_column(f, op.model, mk[1], t, state, key, opaque, fk_targets)
            if other is not None:
                out += other
                continue
            old = state.columns.get(f.name)
            old_spec = state.specs.get(f.name)
            state.columns[f.name] = f.column
            state.specs[f.name] = f
            if op.op == "AddField" or old is None:
                out.append(Effect("column", t, f.column))
                out += _key_effects(t, f, models)
                continue
            if old != f.column:
                out += [Effect("column", t, old, present=False), Effect("column", t, f.column)]
            if old_spec is not None:  # the keys this change adds or drops
                gone, added = _same_keys(_key_effects(t, old_spec, models),
                                         _key_effects(t, f, models))
                out += [Effect(e.kind, e.table, e.name, False, e.columns, e.ref) for e in gone]
                out += added
        return out
    if op.op == "RemoveField":
        col = state.columns.pop(op.detail or "", None)
        spec = state.specs.pop(op.detail or "", None)
        through = state.m2m.pop(op.detail or "", None)
        if through:
            return [Effect("table", through, present=False)]
        keys = [Effect(e.kind, e.table, e.name, False, e.columns, e.ref)
                for e in (_key_effects(t, spec, models) if spec else [])]
        return [Effect("column", t, col, present=False), *keys] if col else []
    if op.op == "RenameField":
        old, _, new = (op.detail or "->").partition("->")
        col = state.columns.pop(old, None)
        spec = state.specs.pop(old, None)
        if col is None:
            return []
        new_col = new if col == old else (new + "_id" if col == old + "_id" else col)
        state.columns[new] = new_col
        if spec is not None:
            state.specs[new] = spec.model_copy(update={"name": new, "column": new_col})
        if new_col == col:
            return []
        moved = []
        if spec is not None:
            moved = [Effect(e.kind, e.table, e.name, False, e.columns, e.ref)
                     for e in _key_effects(t, spec, models)]
            moved += _key_effects(t, state.specs[new], models)
        return [Effect("column", t, col, present=False), Effect("column", t, new_col), *moved]
    if op.op == "DeleteModel":
        # Everything of the model goes, as Django's states say (a model deleted and created
        # again in one migration keeps its table, not its old columns), with its
        # auto-created join tables. The table last: it stands for what it held.
        state.has_table = False
        gone = [Effect("column", t, col, present=False) for col in state.columns.values()]
        gone += [Effect(e.kind, e.table, e.name, False, e.columns, e.ref)
                 for spec in state.specs.values() for e in _key_effects(t, spec, models)]
        return [*gone, Effect("table", t, present=False),
                *(Effect("table", through, present=False) for through in state.m2m.values())]
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
        return [Effect("table", t, present=False), Effect("table", new_table)]
    if op.op in ("AddIndex", "AddConstraint") and op.detail:
        return [Effect("index" if op.op == "AddIndex" else "constraint", t, op.detail)]
    if op.op in ("RemoveIndex", "RemoveConstraint") and op.detail:
        return [Effect("index" if op.op == "RemoveIndex" else "constraint", t, op.detail,
                       present=False)]
    return []


def _net(changes: list[Effect]) -> tuple[list[SchemaObject], list[SchemaObject]]:
    """One migration's changes as what it creates and what it removes, as Django mode
    compares the states before and after it: an object created and dropped again inside the
    migration is neither, and what the migration created on a table it then drops goes with
    the table. First-appearance order."""
    was: dict[tuple[str, str, str | None, tuple[str, ...] | None], bool] = {}
    last: dict[tuple[str, str, str | None, tuple[str, ...] | None], Effect] = {}
    for e in changes:
        if e.kind == "table" and not e.present:
            for k in [k for k in last if k[0] != "table" and k[1] == e.table]:
                if was[k]:
                    last[k] = Effect(k[0], k[1], k[2], False, k[3], last[k].ref,
                                     last[k].checkable)
                else:
                    del last[k], was[k]
        k = e.key()
        was.setdefault(k, not e.present)
        last[k] = e
    creates: list[SchemaObject] = []
    removes: list[SchemaObject] = []
    for k, e in last.items():
        if was[k] == e.present:
            continue
        obj = SchemaObject(kind=e.kind, table=e.table, name=e.name,
                           columns=list(e.columns) if e.columns is not None else None,
                           ref_table=e.ref, state_only=not e.checkable)
        (creates if e.present else removes).append(obj)
    return creates, removes


def _replay(migs: dict[Key, MigrationFile], plan: list[Key]
            ) -> tuple[dict[Key, MigrationFile], dict[tuple[str, str], ModelState]]:
    order, _ = topo_order(migs, plan)
    models: dict[tuple[str, str], ModelState] = {}
    opaque: dict[Key, list[str]] = defaultdict(list)
    out: dict[Key, MigrationFile] = {}
    for key in order:
        m = migs[key]
        changes: list[Effect] = []
        refs: list[tuple[Key, str, str]] = []
        for op in m.operations:
            eff = _apply(op, m, key, models, opaque, refs)
            if op.state_only:  # state_operations change the models; the database is unknown
                eff = [Effect(e.kind, e.table, e.name, e.present, e.columns, e.ref, False)
                       for e in eff]
            changes.extend(eff)
        creates, removes = _net(changes)
        # Judged against the state right after this migration, not the final one: a model
        # renamed or deleted later was there when the reference was made.
        unresolved = [(fld, target) for _, fld, target in refs
                      if (target.partition(".")[0], target.partition(".")[2].lower())
                      not in models]
        out[key] = m.model_copy(update={"creates": creates, "removes": removes,
                                        "unresolved": unresolved,
                                        "unverifiable": list(opaque[key])})
    return out, models


def opaque_operations(m: MigrationFile) -> list[str]:
    """The operations of a migration whose effects came from the framework's own states
    that no state can show ran (RunSQL, RunPython, database_operations): its unverifiable
    reasons."""
    return [op.op for op in m.operations if op.opaque]


def with_replayed_effects(files: list[MigrationFile], plan: list[Key] | None = None, *,
                          keep_computed: bool = False
                          ) -> tuple[list[MigrationFile], list[ModelTable]]:
    """Every migration with its creates/removes/unresolved/unverifiable from the replay, and
    the models the replay ends with (every model it saw, by its last name). Squashes are
    replayed as Django's loader uses them when nothing is recorded; the migrations a squash
    replaces, in the graph without the squash (what migrate runs when some of them are
    recorded). ``keep_computed``: a migration whose effects the framework already gave
    (Django mode) keeps them; the replay fills only the rest."""
    migs = {(m.app, m.name): m for m in files}
    used, _, _ = apply_replacements(migs, {})
    done, models = _replay(used, list(plan or []))
    if len(done) < len(migs):  # the replaced migrations, in the graph they run in
        unsquashed = {k: m for k, m in migs.items() if not m.replaces}
        more, _ = _replay(unsquashed, list(plan or []))
        done = {**more, **done}
    out = []
    for m in files:
        k = (m.app, m.name)
        if keep_computed and m.creates is not None and m.removes is not None:
            out.append(m)
        else:
            out.append(done.get(k, m))
    tables = [ModelTable(app=s.app, model=s.model, table=s.table, has_table=s.has_table)
              for s in models.values()]
    return out, tables
