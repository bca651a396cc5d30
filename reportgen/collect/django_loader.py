"""Django mode: the expected state from Django's own MigrationLoader, read from disk.

``load_codebase`` runs this module in a subprocess (``python -m
reportgen.collect.django_loader``): importing a settings module runs application code, and a
subprocess keeps that code, its sys.path and any crash away from reportgen. Django opens no
database connection here: the loader is built with ``connection=None``; reportgen's own
read-only snapshot stays the only session that talks to the database.

Field columns, FK targets and table names come from Django itself (``Field.
set_attributes_from_name``, ``truncate_name``), so custom ``db_column``/``db_table``, app
labels and third-party apps are handled as Django handles them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from reportgen.bundle import Codebase, FieldSpec, MigrationFile, OperationSpec, Tenancy
from reportgen.collect.django_effects import opaque_operations, with_replayed_effects

METHOD = "Django MigrationLoader (from disk, no database connection)"
TIMEOUT_S = 180


def load_codebase(settings: str, project: str | Path) -> Codebase:
    root = Path(project).resolve()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings,
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    try:
        res = subprocess.run([sys.executable, "-m", "reportgen.collect.django_loader",
                              settings, str(root)], capture_output=True, text=True, env=env,
                             cwd=root, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return _failed(root, f"loading {settings} took longer than {TIMEOUT_S} s")
    if res.returncode != 0 or not res.stdout.strip():
        last = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        return _failed(root, f"Django could not load settings {settings!r}: "
                             f"{last[-1] if last else 'exit ' + str(res.returncode)}")
    return with_replay(Codebase.model_validate_json(res.stdout))


def with_replay(cb: Codebase) -> Codebase:
    """Where Django could not give a migration's states (a migration a squash replaces, which
    the loader drops when nothing is recorded; a state Django could not build), the static
    replay of its operations fills its effects, as it does for the static scan; the models
    the replay saw name where an unresolved relation's target may have gone."""
    files, models = with_replayed_effects(cb.migrations, cb.plan, keep_computed=True)
    return cb.model_copy(update={"migrations": files, "models": models})


def _failed(root: Path, why: str) -> Codebase:
    return Codebase(root=str(root), method=METHOD, migrations=[], errors=[why])


# --- inside the subprocess -----------------------------------------------------------------

def _field_spec(name: str, field: Any) -> FieldSpec:
    field.set_attributes_from_name(name)
    kind = type(field).__name__
    target = None
    remote = getattr(field, "remote_field", None)
    if remote is not None and getattr(remote, "model", None) is not None:
        model = remote.model
        target = model if isinstance(model, str) else f"{model._meta.app_label}.{model.__name__}"
    if getattr(field, "many_to_many", False):
        through = getattr(remote, "through", None)
        # In a migration's state an auto-created join table has no through model yet; an
        # explicit one (through="app.Model", or a tag manager's) makes no table of its own.
        explicit = None
        if through is not None and not getattr(getattr(through, "_meta", None),
                                               "auto_created", False):
            explicit = through if isinstance(through, str) else \
                f"{through._meta.app_label}.{through.__name__}"
        return FieldSpec(name=name, column=None, kind=kind, target=target, through=explicit)
    return FieldSpec(name=name, column=field.column, kind=kind, target=target)


def _operation(op: Any, app: str) -> OperationSpec:
    from django.db import migrations as m
    from django.db.backends.utils import truncate_name

    name = type(op).__name__
    if isinstance(op, m.SeparateDatabaseAndState):
        # Its state part is in the migration's creates/removes; its database part, if any,
        # is not modelled.
        return OperationSpec(op=name, opaque=bool(op.database_operations),
                             detail="database_operations not modelled"
                             if op.database_operations else "state only: database untouched")
    if isinstance(op, (m.RunSQL, m.RunPython)):
        return OperationSpec(op=name, opaque=True,
                             detail="effect on the schema cannot be known without running it")
    if isinstance(op, m.CreateModel):
        opts = op.options or {}
        table = opts.get("db_table") or truncate_name(f"{app}_{op.name.lower()}", 63)
        detail = None
        if opts.get("proxy") or opts.get("managed") is False:
            detail = "proxy or unmanaged: no table of its own"
        return OperationSpec(op=name, model=op.name, table=table, detail=detail,
                             fields=[_field_spec(n, f) for n, f in op.fields])
    if isinstance(op, (m.AddField, m.AlterField)):
        return OperationSpec(op=name, model=op.model_name, fields=[_field_spec(op.name, op.field)])
    if isinstance(op, m.RemoveField):
        return OperationSpec(op=name, model=op.model_name, detail=op.name)
    if isinstance(op, m.RenameField):
        return OperationSpec(op=name, model=op.model_name, detail=f"{op.old_name}->{op.new_name}")
    if isinstance(op, m.DeleteModel):
        return OperationSpec(op=name, model=op.name.lower())
    if isinstance(op, m.RenameModel):
        return OperationSpec(op=name, model=op.old_name.lower(),
                             detail=f"{op.old_name}->{op.new_name}")
    if isinstance(op, m.AlterModelTable):
        return OperationSpec(op=name, model=op.name.lower(), table=op.table)
    if isinstance(op, (m.AddIndex, m.AddConstraint)):
        obj = op.index if isinstance(op, m.AddIndex) else op.constraint
        return OperationSpec(op=name, model=op.model_name, detail=getattr(obj, "name", None))
    if isinstance(op, (m.RemoveIndex, m.RemoveConstraint)):
        return OperationSpec(op=name, model=op.model_name, detail=op.name)
    model = getattr(op, "model_name", None) or getattr(op, "name", None)
    return OperationSpec(op=name, model=model.lower() if isinstance(model, str) else None)


#: A schema object as the loader keeps it: (kind, table, name, key columns). A foreign key's
#: referenced table is kept apart (REFS): it is shown, never part of what is compared, so a
#: later rename of the referenced table does not make the key look new.
Obj = tuple[str, str, "str | None", "tuple[str, ...] | None"]
REFS: dict[tuple[str, tuple[str, ...]], str | None] = {}


def _table_of(app: str, model: Any) -> str:
    from django.db.backends.utils import truncate_name

    # Options.contribute_to_class: app_label + model name, truncated as PostgreSQL needs.
    return str(model.options.get("db_table") or truncate_name(f"{app}_{model.name_lower}", 63))


def _related_table(state_models: Any, target: Any, own: tuple[str, Any]) -> str | None:
    """The table a relation points at, from the migration state (for display only)."""
    if target == "self":
        return _table_of(*own)
    label = target if isinstance(target, str) else getattr(target._meta, "label_lower", "")
    app, _, name = str(label).lower().partition(".")
    other = state_models.get((app, name))
    return _table_of(app, other) if other is not None else None


def _model_objects(app: str, model: Any, state_models: Any) -> frozenset[Obj]:
    """The schema objects of one model in a migration state (Django's ModelState): its
    table, concrete columns (Field.set_attributes_from_name, as rendering does), explicit
    index and constraint names, the keys Django names itself (each foreign key, ``unique``,
    ``unique_together``, ``db_index`` and ``index_together``: by their columns, as the
    PostgreSQL schema editor creates them), and the auto-created join table of each
    many-to-many field (named and shaped as create_many_to_many_intermediary_model makes
    it). Proxy and unmanaged models have none."""
    from django.db.backends.utils import truncate_name

    opts = model.options
    if opts.get("proxy") or opts.get("managed", True) is False:
        return frozenset()
    table = _table_of(app, model)
    out: set[Obj] = {("table", table, None, None)}
    columns: dict[str, str] = {}
    for name, field in model.fields.items():
        # As set_attributes_from_name, which keeps a name already set (a renamed field
        # would keep its old column): the state's key is the field's name now.
        field.name = name
        field.attname, field.column = field.get_attname_column()
        if not getattr(field, "many_to_many", False):
            if not field.column:
                continue
            col = field.column
            columns[name] = col
            out.add(("column", table, col, None))
            if getattr(field, "db_constraint", False) and field.remote_field is not None:
                REFS[table, (col,)] = _related_table(state_models, field.remote_field.model,
                                                     (app, model))
                out.add(("foreign_key", table, None, (col,)))
            if field.unique and not field.primary_key:
                out.add(("unique", table, None, (col,)))
            elif field.db_index and not field.primary_key:
                out.add(("indexed", table, None, (col,)))
            continue
        remote = field.remote_field
        if getattr(remote, "through", None) is not None:
            continue  # an explicit through model: its own model makes its table
        m2m = field.db_table or truncate_name(f"{table}_{name}", 63)
        target = remote.model if isinstance(remote.model, str) else remote.model._meta.label
        to = "self" if target == "self" else target.split(".")[-1].lower()
        src = model.name_lower
        if to in ("self", src):
            src, to = f"from_{src}", f"to_{src}"
        REFS[m2m, (f"{src}_id",)] = table
        REFS[m2m, (f"{to}_id",)] = _related_table(state_models, remote.model, (app, model))
        out |= {("table", m2m, None, None), ("column", m2m, "id", None),
                ("column", m2m, f"{src}_id", None), ("column", m2m, f"{to}_id", None),
                ("foreign_key", m2m, None, (f"{src}_id",)),
                ("foreign_key", m2m, None, (f"{to}_id",)),
                ("unique", m2m, None, tuple(sorted((f"{src}_id", f"{to}_id")))),
                ("indexed", m2m, None, (f"{src}_id",)),
                ("indexed", m2m, None, (f"{to}_id",))}
    for kind, option in (("unique", "unique_together"), ("indexed", "index_together")):
        for names in opts.get(option) or ():
            cols = [columns.get(n) for n in names]
            if all(cols):
                key = tuple(sorted(c for c in cols if c)) if kind == "unique" else \
                    tuple(c for c in cols if c)
                out.add((kind, table, None, key))
    out |= {("index", table, i.name, None) for i in opts.get("indexes", []) if i.name}
    out |= {("constraint", table, c.name, None) for c in opts.get("constraints", []) if c.name}
    return frozenset(out)


def _app_objects(state: Any, app: str) -> Counter[Obj]:
    found: Counter[Obj] = Counter()
    for (label, _), model in state.models.items():
        if label == app:
            found.update(_model_objects(label, model, state.models))
    return found


def _with_state_effects(files: list[MigrationFile]
                        ) -> tuple[list[MigrationFile], list[tuple[str, str]]]:
    """Each migration's creates/removes: the difference between Django's own ProjectState
    before and after it (``Migration.mutate_state``, in the order migrate applies them).
    An operation changes its own app's models, so only that app's objects are recomputed;
    the comparison is over every app's (a model moved to another app with
    SeparateDatabaseAndState keeps its table: no effect). Nothing is rendered (rendering
    every state costs seconds); the objects come from the ModelStates through Django's own
    field APIs. A state Django cannot build stops the walk: the migrations from there on keep
    creates/removes None, with the error. Also returns the plan: the order migrate applies
    them in (the executor's full plan), which the analyzer follows where dependencies leave
    the order open."""
    from django.db.migrations import SeparateDatabaseAndState
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    from reportgen.bundle import SchemaObject

    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    plan: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in graph.leaf_nodes():
        for n in graph.forwards_plan(leaf):
            if n not in seen:
                seen.add(n)
                plan.append(n)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    per_app: dict[str, Counter[Obj]] = {}
    everything: Counter[Obj] = Counter()  # every app's objects (a table two models share)
    by_key = {(m.app, m.name): m for m in files}
    out: dict[tuple[str, str], MigrationFile] = {}
    error: str | None = None
    reported: set[tuple[str, str]] = set()

    def objs(items: set[Obj], masked: set[Obj]) -> list[SchemaObject]:
        return [SchemaObject(kind=k, table=t, name=n,
                             columns=list(c) if c is not None else None,
                             ref_table=REFS.get((t, c)) if k == "foreign_key" and c else None,
                             state_only=(k, t, n, c) in masked)
                for k, t, n, c in sorted(items, key=lambda x: (x[0], x[1], x[2] or "",
                                                               x[3] or ()))]

    for node in plan:
        m = by_key.get(node)
        if m is None:
            continue
        if error is not None:
            out[node] = m.model_copy(update={"state_error": error})
            continue
        migration = graph.nodes[node]
        # State-only operations (SeparateDatabaseAndState) change the models; what they do
        # to the database is not known: what they change is marked state_only (not checked).
        steps = [[op] for op in migration.operations] \
            if any(isinstance(op, SeparateDatabaseAndState) for op in migration.operations) \
            else [list(migration.operations)]
        was: dict[Obj, bool] = {}  # an object's presence before the migration
        now: dict[Obj, bool] = {}  # and after it
        masked: set[Obj] = set()
        try:
            for ops in steps:
                old = per_app.get(node[0]) or _app_objects(state, node[0])
                for op in ops:
                    op.state_forwards(node[0], state)
                new = per_app[node[0]] = _app_objects(state, node[0])
                before = {o for o in old.keys() | new.keys() if everything[o] > 0}
                everything.subtract(old)
                everything.update(new)
                after = {o for o in old.keys() | new.keys() if everything[o] > 0}
                for o in (after - before) | (before - after):
                    was.setdefault(o, o in before)
                    now[o] = o in after
                if ops and isinstance(ops[0], SeparateDatabaseAndState):
                    masked |= (after - before) | (before - after)
            unresolved = _unresolved(state, node[0], loader.unmigrated_apps, reported)
        except Exception as exc:  # Django cannot build the state after this migration
            error = f"{node[0]}.{node[1]}: {type(exc).__name__}: {exc}"
            out[node] = m.model_copy(update={"state_error": error})
            continue
        out[node] = m.model_copy(update={
            "creates": objs({o for o in now if now[o] and not was[o]}, masked),
            "removes": objs({o for o in now if was[o] and not now[o]}, masked),
            "unresolved": unresolved,
            "unverifiable": opaque_operations(m)})
    return [out.get((m.app, m.name), m) for m in files], plan


def _unresolved(state: Any, app: str, unmigrated: set[str],
                reported: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Relations of ``app``'s models (now) whose target model is in no state: Django stops
    with "Related model cannot be resolved" when it renders them. Each field once."""
    out = []
    for (label, name), model in state.models.items():
        if label != app:
            continue
        for fname, field in model.fields.items():
            remote = getattr(field, "remote_field", None)
            target = getattr(remote, "model", None)
            if not isinstance(target, str) or target == "self" or "." not in target:
                continue
            t_app, _, t_model = target.lower().partition(".")
            if (t_app, t_model) in state.models or t_app in unmigrated:
                continue
            if (f"{name}.{fname}", target) not in reported:
                reported.add((f"{name}.{fname}", target))
                out.append((f"{name}.{fname}", target))
    return out


def _tenancy(labels: list[str]) -> Tenancy | None:
    """Schema per tenant as the project's own tenant router decides it: a router in
    DATABASE_ROUTERS with django-tenants' ``app_in_list`` (django-tenant-schemas has the
    same), asked for every app over SHARED_APPS and TENANT_APPS, as its allow_migrate asks."""
    from django.apps import apps
    from django.conf import settings as s
    from django.utils.module_loading import import_string

    for path in getattr(s, "DATABASE_ROUTERS", []) or []:
        try:
            router = import_string(path)() if isinstance(path, str) else path
        except Exception:  # a router that cannot be built is not one we can ask
            continue
        if not hasattr(router, "app_in_list"):
            continue
        library = path if isinstance(path, str) else type(router).__qualname__
        public = getattr(s, "PUBLIC_SCHEMA_NAME", "public")
        error = None
        if getattr(s, "TENANT_TYPES", None) or getattr(s, "HAS_MULTI_TYPE_TENANTS", False):
            error = ("multi-type tenants (TENANT_TYPES): which apps a tenant gets depends on "
                     "its type, not read")
        try:
            shared = [a for a in labels if router.app_in_list(a, s.SHARED_APPS)]
            tenant = [a for a in labels if router.app_in_list(a, s.TENANT_APPS)]
        except Exception as exc:
            return Tenancy(library=library, public_schema=public, shared_apps=[],
                           tenant_apps=[], error=f"{type(exc).__name__}: {exc}")
        table = column = None
        try:
            model = apps.get_model(s.TENANT_MODEL)
            table = model._meta.db_table
            column = model._meta.get_field("schema_name").column
        except Exception as exc:
            error = error or f"the tenant model: {type(exc).__name__}: {exc}"
        return Tenancy(library=library, public_schema=public, shared_apps=shared,
                       tenant_apps=tenant, tenant_table=table,
                       tenant_column=column or "schema_name", error=error)
    return None


def _main(settings: str, project: str) -> int:
    import django
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    django.setup()
    root = Path(project)
    loader = MigrationLoader(None, load=False)
    loader.load_disk()
    errors: list[str] = []
    graph_errors: list[str] = []
    try:
        MigrationLoader(None, ignore_no_migrations=True)  # builds and validates the graph
    except Exception as exc:  # NodeNotFoundError, CircularDependencyError, ...
        graph_errors.append(f"{type(exc).__name__}: {exc}")
    files: list[MigrationFile] = []
    for (app, name), mig in sorted(loader.disk_migrations.items()):
        module = sys.modules.get(type(mig).__module__)
        path = getattr(module, "__file__", None) or f"{app}/migrations/{name}.py"
        try:
            rel = str(Path(path).resolve().relative_to(root.resolve()))
        except ValueError:
            rel = str(path)
        ops = []
        for op in mig.operations:
            try:
                ops.append(_operation(op, app))
            except Exception as exc:  # an operation Django itself could not describe
                ops.append(OperationSpec(op=type(op).__name__, opaque=True, detail=str(exc)))
        deps = []
        for dep in mig.dependencies:
            a, n = dep[0], dep[1]
            if a == "__setting__":  # swappable_dependency resolved as Django resolves it
                from django.conf import settings as s
                a, n = getattr(s, n).split(".")[0].lower(), "__first__"
            deps.append((a, n))
        files.append(MigrationFile(
            app=app, name=name, path=rel, dependencies=deps,
            replaces=[tuple(r) for r in (mig.replaces or [])],
            run_before=[tuple(r) for r in (mig.run_before or [])],
            initial=mig.initial, atomic=bool(getattr(mig, "atomic", True)), operations=ops))
    plan: list[tuple[str, str]] = []
    if not graph_errors:
        files, plan = _with_state_effects(files)
    labels = sorted(a.label for a in apps.get_app_configs())
    cb = Codebase(root=str(root), method=METHOD + f", settings {settings}", migrations=files,
                  errors=errors, graph_errors=graph_errors, installed_apps=labels, plan=plan,
                  tenancy=_tenancy(labels))
    sys.stdout.write(cb.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
