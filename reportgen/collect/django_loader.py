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

from reportgen.bundle import Codebase, FieldSpec, MigrationFile, OperationSpec

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
    return Codebase.model_validate_json(res.stdout)


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


Obj = tuple[str, str, "str | None"]


def _table_of(app: str, model: Any) -> str:
    from django.db.backends.utils import truncate_name

    # Options.contribute_to_class: app_label + model name, truncated as PostgreSQL needs.
    return str(model.options.get("db_table") or truncate_name(f"{app}_{model.name_lower}", 63))


def _model_objects(app: str, model: Any) -> frozenset[Obj]:
    """The schema objects of one model in a migration state (Django's ModelState): its
    table, concrete columns (Field.set_attributes_from_name, as rendering does), explicit
    index and constraint names, and the auto-created join table of each many-to-many
    field (named and shaped as create_many_to_many_intermediary_model makes it). Proxy and
    unmanaged models have none."""
    from django.db.backends.utils import truncate_name

    opts = model.options
    if opts.get("proxy") or opts.get("managed", True) is False:
        return frozenset()
    table = _table_of(app, model)
    out: set[Obj] = {("table", table, None)}
    for name, field in model.fields.items():
        # As set_attributes_from_name, which keeps a name already set (a renamed field
        # would keep its old column): the state's key is the field's name now.
        field.name = name
        field.attname, field.column = field.get_attname_column()
        if not getattr(field, "many_to_many", False):
            if field.column:
                out.add(("column", table, field.column))
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
        out |= {("table", m2m, None), ("column", m2m, "id"), ("column", m2m, f"{src}_id"),
                ("column", m2m, f"{to}_id")}
    out |= {("index", table, i.name) for i in opts.get("indexes", []) if i.name}
    out |= {("constraint", table, c.name) for c in opts.get("constraints", []) if c.name}
    return frozenset(out)


def _app_objects(state: Any, app: str) -> Counter[Obj]:
    found: Counter[Obj] = Counter()
    for (label, _), model in state.models.items():
        if label == app:
            found.update(_model_objects(label, model))
    return found


def _with_state_effects(files: list[MigrationFile]) -> list[MigrationFile]:
    """Each migration's creates/removes: the difference between Django's own ProjectState
    before and after it (``Migration.mutate_state``, in the order migrate applies them).
    An operation changes its own app's models, so only that app's objects are recomputed;
    the comparison is over every app's (a model moved to another app with
    SeparateDatabaseAndState keeps its table: no effect). Nothing is rendered (rendering
    every state costs seconds); the objects come from the ModelStates through Django's own
    field APIs. A state Django cannot build stops the walk: the migrations from there on keep
    creates/removes None, with the error."""
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

    def objs(items: set[Obj]) -> list[SchemaObject]:
        return [SchemaObject(kind=k, table=t, name=n)
                for k, t, n in sorted(items, key=lambda x: (x[0], x[1], x[2] or ""))]

    for node in plan:
        m = by_key.get(node)
        if m is None:
            continue
        if error is not None:
            out[node] = m.model_copy(update={"state_error": error})
            continue
        try:
            old = per_app.get(node[0]) or _app_objects(state, node[0])
            state = graph.nodes[node].mutate_state(state, preserve=False)
            new = per_app[node[0]] = _app_objects(state, node[0])
        except Exception as exc:  # Django cannot build the state after this migration
            error = f"{node[0]}.{node[1]}: {type(exc).__name__}: {exc}"
            out[node] = m.model_copy(update={"state_error": error})
            continue
        before = {o for o in old.keys() | new.keys() if everything[o] > 0}
        everything.subtract(old)
        everything.update(new)
        after = {o for o in old.keys() | new.keys() if everything[o] > 0}
        out[node] = m.model_copy(update={"creates": objs(after - before),
                                         "removes": objs(before - after)})
    return [out.get((m.app, m.name), m) for m in files]


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
            initial=mig.initial, operations=ops))
    if not graph_errors:
        files = _with_state_effects(files)
    labels = sorted(a.label for a in apps.get_app_configs())
    cb = Codebase(root=str(root), method=METHOD + f", settings {settings}", migrations=files,
                  errors=errors, graph_errors=graph_errors, installed_apps=labels)
    sys.stdout.write(cb.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
