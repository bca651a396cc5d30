"""Expected state from the codebase: Django migration files read with ``ast``.

Nothing here imports or executes application code. What cannot be known statically (RunSQL,
RunPython, SeparateDatabaseAndState) is marked opaque, and files that cannot be parsed are
reported in ``errors`` rather than stopping the scan.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from reportgen.bundle import Codebase, DestructiveScript, FieldSpec, MigrationFile, OperationSpec
from reportgen.collect.django_effects import with_replayed_effects

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", "dist",
             "build", ".mypy_cache", ".ruff_cache"}
RELATION_FIELDS = {"ForeignKey": "_id", "OneToOneField": "_id", "ParentalKey": "_id"}
M2M_FIELDS = {"ManyToManyField", "ParentalManyToManyField"}
OPAQUE_OPS = {"RunSQL", "RunPython"}
AUTH_USER_MODEL = "auth.User"


def is_environment(path: Path) -> bool:
    """A virtualenv (it has pyvenv.cfg) or an installed-packages folder."""
    return path.name in ("site-packages", "dist-packages") or (path / "pyvenv.cfg").is_file()


#: Django names migration files NNNN_name.py: a migrations/ folder with none of them is
#: another package of that name (Django's own django/db/migrations, for one).
_NUMBERED = re.compile(r"^\d{4}_\w*\.py$")


def is_app_dir(path: Path) -> bool:
    """A Django app's folder: models.py, a models package or apps.py beside migrations/."""
    return any((path / n).is_file() for n in ("models.py", "apps.py", "models/__init__.py"))


def scan_project(root: str | Path, *, include_environments: bool = False) -> Codebase:
    """Migration packages under ``root``: a ``migrations/`` folder with ``__init__.py``
    beside an app's models.py or apps.py. Virtualenvs and site-packages are skipped unless
    ``include_environments``; a folder named migrations that is not beside an app or holds
    no NNNN_*.py file is left alone (Django's own ``django/db/migrations`` package)."""
    base = Path(root).resolve()
    files: list[MigrationFile] = []
    errors: list[str] = []
    scripts: list[DestructiveScript] = []
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and (include_environments or not is_environment(here / d)))
        if here.name != "migrations" or not is_app_dir(here.parent) or not any(
                _NUMBERED.match(f) for f in filenames):
            for fname in sorted(filenames):
                found = _destructive(here / fname)
                if found:
                    scripts.append(DestructiveScript(path=str((here / fname).relative_to(base)),
                                                     statements=found[0], line=found[1]))
            continue
        if "__init__.py" not in filenames:
            errors.append(f"{here.relative_to(base)}: migrations directory without __init__.py "
                          "(Django ignores it)")
            continue
        app = here.parent.name
        for fname in sorted(filenames):
            if not fname.endswith(".py") or fname.startswith(("_", "~")):
                continue
            path = here / fname
            rel = str(path.relative_to(base))
            try:
                files.append(parse_migration(path.read_text("utf-8"), app, fname[:-3], rel))
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                errors.append(f"{rel}: cannot parse ({type(exc).__name__}: {exc})")
    files.sort(key=lambda m: (m.app, m.name))
    files, models = with_replayed_effects(files)
    return Codebase(root=str(base), method="static scan of migration files (ast, no imports)",
                    migrations=files, errors=errors, destructive_scripts=scripts, models=models)


_DESTRUCTIVE = re.compile(r"\b(DROP\s+(?:TABLE|SCHEMA|DATABASE|OWNED)|TRUNCATE)\b", re.IGNORECASE)
SCRIPT_SUFFIXES = {".py", ".sql", ".sh", ".bash", ".rb", ".js", ".ts"}


def _destructive(path: Path) -> tuple[list[str], int] | None:
    if path.suffix not in SCRIPT_SUFFIXES:
        return None
    try:
        if path.stat().st_size > 1_000_000:
            return None
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return None
    kinds: list[str] = []
    first = 0
    for n, line in enumerate(text.splitlines(), start=1):
        for m in _DESTRUCTIVE.finditer(line):
            kind = " ".join(m.group(1).upper().split())
            if kind not in kinds:
                kinds.append(kind)
            first = first or n
    return (kinds, first) if kinds else None


def parse_migration(source: str, app: str, name: str, path: str) -> MigrationFile:
    tree = ast.parse(source, filename=path)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Migration"
                and any(_base_name(b) == "Migration" for b in n.bases)), None)
    if cls is None:
        raise ValueError("no class Migration(migrations.Migration)")
    values: dict[str, ast.expr] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name):
            values[stmt.targets[0].id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
            values[stmt.target.id] = stmt.value
    initial = values.get("initial")
    atomic = values.get("atomic")
    unreadable = _unreadable_operations(cls, values)
    return MigrationFile(
        app=app, name=name, path=path,
        dependencies=_pairs(values.get("dependencies"), app),
        replaces=_pairs(values.get("replaces"), app),
        run_before=_pairs(values.get("run_before"), app),
        initial=initial.value if isinstance(initial, ast.Constant) and isinstance(
            initial.value, bool) else None,
        atomic=not (isinstance(atomic, ast.Constant) and atomic.value is False),
        operations=[OperationSpec(op=f"operation list {unreadable}", opaque=True)]
        if unreadable else [o for op in _elements(_resolve(values.get("operations"), values))
                            for o in _operations(op, app, values)],
    )


def _unreadable_operations(cls: ast.ClassDef, values: dict[str, ast.expr]) -> str | None:
    """Why the class's operation list cannot be read from its source (None: it can). Wagtail
    picks its search index's operations by database vendor inside an ``if`` in the class
    body; read as empty, such a migration would seem to do nothing."""
    def assigns(node: ast.AST) -> bool:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        return any(isinstance(t, ast.Name) and t.id == "operations" for t in targets)

    for stmt in cls.body:
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.Match)) \
                and any(assigns(n) or _mutates_operations(n) for n in ast.walk(stmt)):
            return "chosen when the module runs (inside an if/try block)"
        if (isinstance(stmt, ast.AugAssign) and assigns(stmt)) or _mutates_operations(stmt):
            return "extended when the module runs"
    node = _resolve(values.get("operations"), values)
    if node is not None and not isinstance(node, (ast.List, ast.Tuple)):
        return "built when the module runs (not a literal list)"
    return None


def _mutates_operations(node: ast.AST) -> bool:
    """``operations.append(...)`` / ``.extend`` / ``.insert``."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
        and isinstance(node.value.func, ast.Attribute) \
        and isinstance(node.value.func.value, ast.Name) \
        and node.value.func.value.id == "operations"


def _base_name(node: ast.expr) -> str | None:
    """``migrations.Migration`` or ``Migration``: the name a class's base ends with."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _elements(node: ast.expr | None) -> list[ast.expr]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return list(node.elts)
    return []


def _const(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _pairs(node: ast.expr | None, app: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for el in _elements(node):
        if isinstance(el, (ast.Tuple, ast.List)) and len(el.elts) == 2:
            a, n = _const(el.elts[0]), _const(el.elts[1])
            if a is not None and n is not None:
                out.append((a, n))
        elif isinstance(el, ast.Call) and _call_name(el) == "swappable_dependency":
            # settings.AUTH_USER_MODEL → the app of the user model, its first migration.
            out.append((AUTH_USER_MODEL.split(".")[0], "__first__"))
    return out


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return "?"


def _arg(call: ast.Call, pos: int, kw: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == kw:
            return k.value
    if pos < len(call.args):
        return call.args[pos]
    return None


def _target(node: ast.expr | None, app: str) -> str | None:
    text = _const(node)
    if text is None:
        if isinstance(node, ast.Attribute) and node.attr == "AUTH_USER_MODEL":
            return AUTH_USER_MODEL
        return None
    if "." not in text:
        return f"{app}.{text}"
    return text


#: Field classes whose columns the static scan knows exactly (Django's own and
#: django.contrib.postgres'); any other class (a custom subclass, a tag manager) may add a
#: column, a join table or nothing: its effect is unverifiable.
PLAIN_FIELDS = {
    "AutoField", "BigAutoField", "SmallAutoField", "BigIntegerField", "BinaryField",
    "BooleanField", "CharField", "CommaSeparatedIntegerField", "DateField", "DateTimeField",
    "DecimalField", "DurationField", "EmailField", "FileField", "FilePathField", "FloatField",
    "GenericIPAddressField", "IPAddressField", "ImageField", "IntegerField", "JSONField",
    "NullBooleanField", "PositiveBigIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "SlugField", "SmallIntegerField", "TextField", "TimeField",
    "URLField", "UUIDField", "ArrayField", "HStoreField", "CICharField", "CIEmailField",
    "CITextField", "IntegerRangeField", "BigIntegerRangeField", "DecimalRangeField",
    "DateRangeField", "DateTimeRangeField", "SearchVectorField",
}


def _flag(call: ast.Call, kw: str) -> bool | None:
    """A keyword argument written as True or False (None: absent or not a constant)."""
    value = _arg(call, 99, kw)
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return value.value
    return None


def _field(name: str, node: ast.expr, app: str) -> FieldSpec:
    if not isinstance(node, ast.Call):
        return FieldSpec(name=name, column=None, kind="?", modelled=False)
    kind = _call_name(node)
    db_column = _const(_arg(node, 99, "db_column"))
    primary = _flag(node, "primary_key") is True
    unique = not primary and (_flag(node, "unique") is True or kind == "OneToOneField")
    if kind in M2M_FIELDS:
        through = _arg(node, 99, "through")
        return FieldSpec(name=name, column=None, kind=kind,
                         target=_target(_arg(node, 0, "to"), app),
                         through=(_target(through, app) or "?") if through is not None else None)
    if kind in RELATION_FIELDS:
        # Django indexes a foreign key unless db_index=False, and creates its constraint
        # unless db_constraint=False.
        return FieldSpec(name=name, column=db_column or name + RELATION_FIELDS[kind], kind=kind,
                         target=_target(_arg(node, 0, "to"), app),
                         constraint=_flag(node, "db_constraint") is not False, unique=unique,
                         indexed=not primary and not unique and _flag(node, "db_index")
                         is not False)
    if kind not in PLAIN_FIELDS:
        return FieldSpec(name=name, column=None, kind=kind, modelled=False)
    return FieldSpec(name=name, column=db_column or name, kind=kind, unique=unique,
                     indexed=not primary and not unique and _flag(node, "db_index") is True)


def _resolve(node: ast.expr | None, values: dict[str, ast.expr]) -> ast.expr | None:
    """A name bound in the Migration class body (``operations = state_operations``) as the
    expression bound to it; anything else as it is."""
    seen = 0
    while isinstance(node, ast.Name) and node.id in values and seen < 10:
        node, seen = values[node.id], seen + 1
    return node


def _operations(node: ast.expr, app: str, values: dict[str, ast.expr]) -> list[OperationSpec]:
    """One operation, or a SeparateDatabaseAndState flattened: its state_operations change
    the models only (state_only), and any database_operations make it opaque (what they do
    to the database is not modelled; with none, the database is untouched). A list the scan
    cannot read (not a literal, not a name bound in the class) makes it opaque too."""
    if isinstance(node, ast.Call) and _call_name(node) == "SeparateDatabaseAndState":
        for pos, kw in ((1, "state_operations"), (0, "database_operations")):
            arg = _resolve(_arg(node, pos, kw), values)
            if arg is not None and not isinstance(arg, (ast.List, ast.Tuple)):
                return [OperationSpec(op="SeparateDatabaseAndState", opaque=True,
                                      detail=f"{kw} not readable without running the code")]
        out = [o.model_copy(update={"state_only": True})
               for x in _elements(_resolve(_arg(node, 1, "state_operations"), values))
               for o in _operations(x, app, values)]
        if _elements(_resolve(_arg(node, 0, "database_operations"), values)):
            out.append(OperationSpec(op="SeparateDatabaseAndState", opaque=True,
                                     detail="database_operations: their effect is not "
                                            "modelled"))
        return out
    return [_operation(node, app)]


def _operation(node: ast.expr, app: str) -> OperationSpec:
    if not isinstance(node, ast.Call):
        return OperationSpec(op="?", opaque=True, detail="not a call")
    op = _call_name(node)
    if op in OPAQUE_OPS:
        return OperationSpec(op=op, opaque=True,
                             detail="effect on the schema cannot be known without running it")
    if op == "CreateModel":
        model = _const(_arg(node, 0, "name")) or "?"
        fields = []
        for el in _elements(_arg(node, 1, "fields")):
            if isinstance(el, ast.Tuple) and len(el.elts) == 2 and _const(el.elts[0]):
                fields.append(_field(_const(el.elts[0]) or "?", el.elts[1], app))
        options = _arg(node, 2, "options")
        table, detail = None, None
        if isinstance(options, ast.Dict):
            for k, v in zip(options.keys, options.values, strict=False):
                key = _const(k) if k is not None else None
                if key == "db_table":
                    table = _const(v)
                elif isinstance(v, ast.Constant) and (key, v.value) in (("proxy", True),
                                                                         ("managed", False)):
                    detail = f"{key}={v.value!r}: no table of its own"
        return OperationSpec(op=op, model=model, table=table, fields=fields, detail=detail)
    if op in ("AddField", "AlterField"):
        model = (_const(_arg(node, 0, "model_name")) or "?").lower()
        fname = _const(_arg(node, 1, "name")) or "?"
        fnode = _arg(node, 2, "field")
        spec = _field(fname, fnode, app) if fnode is not None else FieldSpec(
            name=fname, column=fname, kind="?")
        return OperationSpec(op=op, model=model, fields=[spec])
    if op == "RemoveField":
        model = (_const(_arg(node, 0, "model_name")) or "?").lower()
        return OperationSpec(op=op, model=model, detail=_const(_arg(node, 1, "name")))
    if op == "RenameField":
        model = (_const(_arg(node, 0, "model_name")) or "?").lower()
        old, new = _const(_arg(node, 1, "old_name")), _const(_arg(node, 2, "new_name"))
        return OperationSpec(op=op, model=model, detail=f"{old}->{new}")
    if op == "DeleteModel":
        return OperationSpec(op=op, model=(_const(_arg(node, 0, "name")) or "?").lower())
    if op == "RenameModel":
        old, new = _const(_arg(node, 0, "old_name")), _const(_arg(node, 1, "new_name"))
        return OperationSpec(op=op, model=(old or "?").lower(), detail=f"{old}->{new}")
    if op == "AlterModelTable":
        return OperationSpec(op=op, model=(_const(_arg(node, 0, "name")) or "?").lower(),
                             table=_const(_arg(node, 1, "table")))
    if op in ("AddIndex", "AddConstraint"):
        model = (_const(_arg(node, 0, "model_name")) or "?").lower()
        obj = _arg(node, 1, "index" if op == "AddIndex" else "constraint")
        name = _const(_arg(obj, 99, "name")) if isinstance(obj, ast.Call) else None
        return OperationSpec(op=op, model=model, detail=name)
    if op in ("RemoveIndex", "RemoveConstraint"):
        model = (_const(_arg(node, 0, "model_name")) or "?").lower()
        return OperationSpec(op=op, model=model, detail=_const(_arg(node, 1, "name")))
    model_node = _arg(node, 0, "name") or _arg(node, 0, "model_name")
    model_name = _const(model_node)
    return OperationSpec(op=op, model=model_name.lower() if model_name else None)
