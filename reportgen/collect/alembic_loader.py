"""Alembic mode: a project's revisions, as Alembic itself reads them.

``load_alembic`` runs this module in a subprocess (``python -m
reportgen.collect.alembic_loader ALEMBIC_INI ROOT``): the project's env.py imports the
application, and a subprocess keeps that code, its sys.path and any crash away from
reportgen. No database connection is opened: the revision graph comes from Alembic's own
``ScriptDirectory`` (revisions, down revisions, merges, branch labels), each revision's
schema effects from Alembic's offline mode (``upgrade DOWN:REV --sql`` through the project's
own env.py, PostgreSQL dialect, no connection), read by ``sql_effects`` with PostgreSQL's
grammar. A revision whose offline SQL cannot be written (its upgrade() inspects the
database, env.py insists on a connection) is unverifiable, saying why; a merge revision
whose upgrade() does nothing has no effects of its own.
"""

from __future__ import annotations

import ast
import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from reportgen.bundle import Codebase

METHOD = "Alembic ScriptDirectory and offline SQL (env.py, no database connection), read " \
         "with PostgreSQL's grammar (pglast)"
TIMEOUT_S = 300
#: Folders never searched for an alembic.ini (with the Django scan's own).
_SKIP = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", "dist", "build",
         ".mypy_cache", ".ruff_cache", ".venv", "venv", "site-packages"}


def find_ini(root: Path, depth: int = 3) -> list[Path]:
    """The alembic.ini files of a project: at its root, else in folders up to ``depth``
    below it (virtualenvs and build folders skipped)."""
    if (root / "alembic.ini").is_file():
        return [root / "alembic.ini"]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        level = len(here.relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith(".")
                             and not (here / d / "pyvenv.cfg").is_file() and level < depth)
        if "alembic.ini" in filenames:
            found.append(here / "alembic.ini")
    return found


def load_alembic(ini: Path, root: Path) -> Codebase:
    """The project's revisions and their effects; a failure is one line in ``errors``."""
    root = root.resolve()
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    config = str(ini.resolve().relative_to(root)) if ini.resolve().is_relative_to(root) \
        else str(ini)
    failed = Codebase(root=str(root), framework="alembic", config=config, method=METHOD,
                      migrations=[])
    try:
        res = subprocess.run([sys.executable, "-m", "reportgen.collect.alembic_loader",
                              str(ini.resolve()), str(root)], capture_output=True, text=True,
                             env=env, cwd=root, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return failed.model_copy(update={
            "errors": [f"reading the revisions of {config} took longer than {TIMEOUT_S} s"]})
    if res.returncode != 0 or not res.stdout.strip():
        last = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        why = last[-1] if last else f"exit {res.returncode}"
        if "No module named 'alembic'" in why:
            why = "Alembic is not installed beside reportgen (pip install 'reportgen[alembic]')"
        return failed.model_copy(update={"errors": [f"Alembic could not read {config}: {why}"]})
    return Codebase.model_validate_json(res.stdout).model_copy(update={"config": config})


# --- inside the subprocess -----------------------------------------------------------------


def _read(ini: Path, root: Path) -> Codebase:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from reportgen.bundle import MigrationFile
    from reportgen.collect.sql_effects import effects_of_sql

    logging.disable(logging.CRITICAL)  # env.py's fileConfig: nothing on our stdout/stderr
    location = Config(str(ini)).get_main_option("script_location") or "alembic"
    location = location.replace("%(here)s", str(ini.parent))
    if ":" in location and not Path(location).exists():  # package:folder
        import importlib.util

        pkg, _, sub = location.partition(":")
        spec = importlib.util.find_spec(pkg)
        where = Path(spec.origin).parent / sub if spec and spec.origin else Path(location)
    elif Path(location).is_absolute():
        where = Path(location)
    else:  # Alembic resolves it from where it runs: the project's root, as a rule
        tries = [root / location, ini.parent / location, *(p / location for p in ini.parents)]
        where = next((t for t in tries if t.is_dir()), tries[0])
    script = ScriptDirectory.from_config(_config(ini, where, io.StringIO()))
    files: list[MigrationFile] = []
    errors: list[str] = []
    for rev in reversed(list(script.walk_revisions())):  # base first
        down = rev.down_revision
        downs = [down] if isinstance(down, str) else list(down or ())
        path = Path(rev.path).resolve() if rev.path else None
        m = MigrationFile(
            app="alembic", name=rev.revision, title=(rev.doc or "").strip() or None,
            path=str(path.relative_to(root)) if path and path.is_relative_to(root)
            else str(path or ""), dependencies=[("alembic", d) for d in downs],
            operations=[], creates=None, removes=None, unverifiable=[])
        if len(downs) > 1:
            if path is not None and _does_nothing(path):
                m.creates, m.removes = [], []
            else:
                m.unverifiable.append("a merge of branches that changes the schema: its own "
                                      "effects cannot be told from its branches' offline")
        else:
            buf = io.StringIO()
            try:
                command.upgrade(_config(ini, where, buf),
                                f"{downs[0]}:{rev.revision}" if downs else rev.revision,
                                sql=True)
            except Exception as exc:  # the revision's own code: anything may fail offline
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                m.unverifiable.append(f"offline mode stopped in its code "
                                      f"({type(exc).__name__}: {first[:200]})")
                m.partial = True
            if not m.partial and path is not None and _asks_offline(path):
                m.unverifiable.append("its code asks whether it runs offline "
                                      "(context.is_offline_mode()): the SQL may differ online")
                m.partial = True
            found = effects_of_sql(_statements(buf.getvalue(), m.partial))
            if m.partial and not (found.creates or found.removes):
                m.creates = m.removes = None  # nothing was written: nothing is known
            else:
                m.creates, m.removes = found.creates, found.removes
                m.unverifiable += found.unverifiable
                m.noop = not m.partial and not found.statements
        if (m.partial or m.creates is None) and path is not None:
            m.mentions = _mentions(path)
        files.append(m)
    return Codebase(root=str(root), framework="alembic", method=METHOD, migrations=files,
                    errors=errors, plan=[("alembic", m.name) for m in files])


def _statements(sql: str, partial: bool) -> str:
    """The revision's own statements: Alembic's transaction and version-table lines are
    the tracker's (sql_effects leaves them out); a run that stopped keeps only whole
    statements (the text ends at the last ``;``)."""
    if partial and ";" in sql:
        return sql[:sql.rindex(";") + 1]
    return "" if partial else sql


#: Code that finds tables while it runs: a revision using it may touch any table.
_AT_RUN_TIME = ("get_table_names", "sorted_tables", "metadata.tables", "reflect(",
                "get_view_names", "information_schema", "pg_catalog", "pg_class")


def _mentions(path: Path) -> list[str] | None:
    """The words of a revision's string constants (the table, column, index and constraint
    names it can name), or None when its code finds tables at run time or cannot be read."""
    try:
        source = path.read_text("utf-8")
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    if any(k in source for k in _AT_RUN_TIME):
        return None
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words.update(w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", node.value))
    return sorted(words)


def _asks_offline(path: Path) -> bool:
    try:
        return "is_offline_mode" in path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return True


def _does_nothing(path: Path) -> bool:
    """upgrade() holds only ``pass`` or a docstring (what ``alembic merge`` writes)."""
    try:
        tree = ast.parse(path.read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"),
              None)
    return fn is not None and all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in fn.body)


def _config(ini: Path, where: Path, buf: io.StringIO) -> Any:
    from alembic.config import Config

    cfg = Config(str(ini), output_buffer=buf)
    cfg.set_main_option("script_location", str(where))
    cfg.set_main_option("sqlalchemy.url", "postgresql://")  # offline: the dialect only
    return cfg


if __name__ == "__main__":
    out = sys.stdout
    sys.stdout = sys.stderr  # env.py and revisions may print: only the JSON goes out
    out.write(_read(Path(sys.argv[1]), Path(sys.argv[2]).resolve()).model_dump_json())
