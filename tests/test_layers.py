"""The code's one way through: readers (collect/) write the bundle, the analyzer (analyze/)
compares, the renderers (render/) only read the Assessment's types; no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "reportgen"


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules of reportgen this file imports (relative imports resolved). Top level only:
    what runs when the module is imported (not inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text("utf-8"))
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if not top_level_only:
                    visit(node.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("reportgen"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.startswith("reportgen"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in node.names
                                 if (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")
                                     ).with_suffix(".py").exists())
            elif not top_level_only:
                visit([n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))
                       ] if not isinstance(node, (ast.Import, ast.ImportFrom)) else [])
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)

    visit(tree.body)
    return found - {name}


FILES = sorted(PACKAGE.rglob("*.py"))


def test_no_import_cycle():
    graph = {_module(f): _imports(f, top_level_only=True) for f in FILES}
    # A module importing reportgen.x.y also runs reportgen.x (its package), unless that is
    # the importer's own package (imported before it, whichever way it is reached).
    for mod, deps in graph.items():
        own = {".".join(mod.split(".")[:i]) for i in range(1, len(mod.split(".")) + 1)}
        for d in list(deps):
            parts = d.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts)))
        deps -= own
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack[stack.index(d):], d]))
            if d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m)


def _all_imports(area: str) -> dict[str, set[str]]:
    return {_module(f): _imports(f, top_level_only=False)
            for f in FILES if _module(f).startswith(f"reportgen.{area}")}


def test_renderers_read_only_the_assessment_types():
    for mod, deps in _all_imports("render").items():
        used = {d for d in deps if d.startswith("reportgen.analyze")}
        assert used <= {"reportgen.analyze.model"}, (mod, used)
        assert not {d for d in deps if d.startswith("reportgen.collect")}, mod


def test_readers_import_neither_analyzer_nor_renderers():
    for mod, deps in _all_imports("collect").items():
        assert not {d for d in deps if d.startswith(("reportgen.render", "reportgen.analyze"))
                    }, mod


def test_the_analyzer_knows_no_framework_operation():
    """analyze/ compares what the readers wrote; no operation class of Django's is named in
    its code (as a name, an attribute or a whole string)."""
    from reportgen.collect.django_effects import KNOWN_OPERATIONS

    for f in sorted((PACKAGE / "analyze").rglob("*.py")):
        tree = ast.parse(f.read_text("utf-8"))
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
            {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | \
            {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
             and isinstance(n.value, str)}
        assert not named & KNOWN_OPERATIONS, (f.name, named & KNOWN_OPERATIONS)
        deps = _imports(f, top_level_only=False)
        assert not {d for d in deps if d.startswith(("reportgen.collect", "reportgen.render"))
                    }, f.name
