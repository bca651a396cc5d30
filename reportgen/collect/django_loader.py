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
    if isinstance(op, (m.RunSQL, m.RunPython, m.SeparateDatabaseAndState)):
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
    labels = sorted(a.label for a in apps.get_app_configs())
    cb = Codebase(root=str(root), method=METHOD + f", settings {settings}", migrations=files,
                  errors=errors, graph_errors=graph_errors, installed_apps=labels)
    sys.stdout.write(cb.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
