"""Every function, aggregate, type and collation reportgen's collection SQL names is
qualified with pg_catalog (read with PostgreSQL's own parser, pglast): with the empty
search_path of the snapshot this is defence in depth against objects a database user plants
(test_hostile_db proves the behaviour on a real server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pglast import ast, parse_sql
from pglast.visitors import Visitor

from reportgen.collect.queries import SQL_DIR, load
from reportgen.collect.trackers import READERS

#: Type names the grammar itself maps to pg_catalog (int, bigint, ...) come back qualified.
SQL_FILES = sorted(p.stem for p in SQL_DIR.glob("*.sql"))


class _Unqualified(Visitor):
    def __init__(self) -> None:
        self.found: list[str] = []

    def _check(self, kind: str, names: Any) -> None:
        parts = [n.sval for n in names or ()]
        if len(parts) < 2 or parts[0] not in ("pg_catalog", "information_schema"):
            self.found.append(f"{kind} {'.'.join(parts)}")

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        self._check("function", node.funcname)

    def visit_TypeName(self, ancestors: Any, node: ast.TypeName) -> None:
        self._check("type", node.names)

    def visit_CollateClause(self, ancestors: Any, node: ast.CollateClause) -> None:
        self._check("collation", node.collname)


def _parse(text: str) -> Any:
    text = re.sub(r"%\((\w+)\)s", "NULL", text).replace("{schema}", "s").replace("{}", "x")
    return parse_sql(text)


@pytest.mark.parametrize("name", SQL_FILES)
def test_sql_file_names_only_pg_catalog_objects(name):
    finder = _Unqualified()
    finder(_parse(load(name)))
    assert finder.found == []


def test_python_built_queries_too():
    from reportgen.collect import exact_counts, signals

    texts = [template for template, _ in READERS.values()]
    texts += re.findall(r'"(SELECT pg_catalog[^"]*)"', Path(exact_counts.__file__).read_text())
    texts += ["".join(re.findall(r'"([^"]*)"', m)) for m in re.findall(
        r"snap\.query\(((?:\"[^\"]*\"\s*)+)\)", Path(signals.__file__).read_text())]
    assert len(texts) >= len(READERS) + 2
    for text in texts:
        finder = _Unqualified()
        finder(_parse(text))
        assert finder.found == [], text


def test_the_checker_sees_an_unqualified_call():
    finder = _Unqualified()
    finder(_parse("SELECT count(*), a::text FROM t ORDER BY a COLLATE \"C\""))
    assert sorted(finder.found) == ["collation C", "function count", "type text"]


def test_search_path_is_read_as_postgresql_reads_it():
    from reportgen.connection import search_path_schemas

    assert search_path_schemas('"$user", public', "bob") == ["bob", "public"]
    assert search_path_schemas('"We,ird""x", Public ,pg_catalog', "u") == [
        'We,ird"x', "public", "pg_catalog"]
    assert search_path_schemas("", "u") == []
