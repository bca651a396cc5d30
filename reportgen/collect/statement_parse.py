"""What a logged SQL statement does, read with PostgreSQL's own parser (pglast): its kind
(DROP TABLE, TRUNCATE, DELETE without WHERE, ...) and the tables it names, schema and name
apart. Comments, quoting, case folding and several statements on one line come out right
because PostgreSQL's grammar reads them, not a regular expression.

Text the parser rejects (a truncated line, another server version's syntax) falls back to
a keyword match on its first words, with no table names: it is still shown as evidence,
and never read for names it might not contain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ObjectType
from pglast.parser import ParseError

from reportgen.bundle import TableName

_ALTER_DROPS = {AlterTableType.AT_DropColumn, AlterTableType.AT_DropConstraint}
_DDL = (ast.CreateStmt, ast.CreateTableAsStmt, ast.IndexStmt, ast.ViewStmt, ast.AlterTableStmt,
        ast.RenameStmt, ast.GrantStmt, ast.GrantRoleStmt, ast.CommentStmt, ast.DropStmt,
        ast.CreateSchemaStmt, ast.CreateSeqStmt, ast.AlterSeqStmt, ast.CreateFunctionStmt,
        ast.AlterObjectSchemaStmt, ast.AlterOwnerStmt, ast.CreateTrigStmt, ast.CreateExtensionStmt,
        ast.AlterDomainStmt, ast.CreateDomainStmt, ast.CompositeTypeStmt, ast.CreateEnumStmt,
        ast.AlterEnumStmt, ast.DefineStmt, ast.CreatePolicyStmt, ast.AlterPolicyStmt,
        ast.AlterFunctionStmt, ast.CreateEventTrigStmt, ast.AlterRoleStmt, ast.CreateRoleStmt,
        ast.DropRoleStmt, ast.AlterDatabaseSetStmt, ast.AlterDatabaseStmt, ast.CreatedbStmt,
        ast.DropdbStmt, ast.AlterDefaultPrivilegesStmt, ast.ReassignOwnedStmt, ast.DropOwnedStmt)


@dataclass
class Statement:
    kind: str | None  # None: not DDL and not destructive
    text: str
    tables: list[TableName] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)  # CATALOG QUERY: schemas it filters on


#: Catalog relations a "check the tables" script lists tables from: (schema, name), None for
#: a name PostgreSQL finds through the search path (pg_catalog comes first on it).
CATALOG_RELATIONS = {
    ("information_schema", "tables"), ("information_schema", "columns"),
    ("information_schema", "views"), ("pg_catalog", "pg_tables"), ("pg_catalog", "pg_class"),
    ("pg_catalog", "pg_stat_user_tables"), ("pg_catalog", "pg_stat_all_tables"),
    ("pg_catalog", "pg_views"), (None, "pg_tables"), (None, "pg_class"),
    (None, "pg_stat_user_tables"), (None, "pg_stat_all_tables"), (None, "pg_views"),
}
#: Columns of those relations that name a schema: a literal compared with one is a filter.
SCHEMA_COLUMNS = {"table_schema", "schemaname", "nspname"}


def _walk(node: object) -> list[ast.Node]:
    """Every AST node under ``node``, itself included."""
    out: list[ast.Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple):
            stack.extend(n)
        elif isinstance(n, ast.Node):
            out.append(n)
            stack.extend(getattr(n, a) for a in getattr(n, "__slots__", ()) if a != "location")
    return out


def _catalog_query(node: ast.SelectStmt) -> tuple[list[TableName], list[str]] | None:
    """The catalog relations a SELECT lists tables from, and the schema names it filters on
    (``table_schema = 'app'``, ``schemaname IN (...)``); None when it reads none."""
    nodes = _walk(node)
    read = [TableName(schema_name=n.schemaname, name=n.relname) for n in nodes
            if isinstance(n, ast.RangeVar) and (n.schemaname, n.relname) in CATALOG_RELATIONS]
    if not read:
        return None
    schemas: list[str] = []
    for n in nodes:
        if not isinstance(n, ast.A_Expr) or not isinstance(n.lexpr, ast.ColumnRef):
            continue
        col = n.lexpr.fields[-1] if n.lexpr.fields else None
        if not isinstance(col, ast.String) or col.sval not in SCHEMA_COLUMNS:
            continue
        values = n.rexpr if isinstance(n.rexpr, tuple) else (n.rexpr,)
        schemas += [str(v.val.sval) for v in values if isinstance(v, ast.A_Const)
                    and isinstance(v.val, ast.String) and v.val.sval not in schemas]
    return read, schemas


def _table(rv: ast.RangeVar | None) -> list[TableName]:
    return [] if rv is None else [TableName(schema_name=rv.schemaname, name=rv.relname)]


def _names(obj: tuple[ast.String, ...]) -> TableName:
    parts = [p.sval for p in obj]
    return TableName(schema_name=parts[-2] if len(parts) > 1 else None, name=parts[-1])


def _classify(node: ast.Node | None) -> tuple[str | None, list[TableName]]:
    if isinstance(node, ast.DropStmt):
        if node.removeType == ObjectType.OBJECT_TABLE:
            return "DROP TABLE", [_names(o) for o in node.objects or ()]
        return "DROP", []
    if isinstance(node, ast.TruncateStmt):
        return "TRUNCATE", [t for r in node.relations or () for t in _table(r)]
    if isinstance(node, ast.DeleteStmt):
        kind = "DELETE" if node.whereClause is not None else "DELETE without WHERE"
        return kind, _table(node.relation)
    if isinstance(node, ast.UpdateStmt):
        if node.whereClause is None:
            return "UPDATE without WHERE", _table(node.relation)
        return None, []
    if isinstance(node, ast.CreateStmt):
        return "CREATE TABLE", _table(node.relation)
    if isinstance(node, ast.InsertStmt):
        return "INSERT", _table(node.relation)
    if isinstance(node, ast.CopyStmt) and node.is_from:
        return "COPY FROM", _table(node.relation)
    if isinstance(node, ast.AlterTableStmt):
        drops = any(isinstance(c, ast.AlterTableCmd) and c.subtype in _ALTER_DROPS
                    for c in node.cmds or ())
        return ("ALTER ... DROP" if drops else "DDL"), _table(node.relation)
    if isinstance(node, _DDL):
        return "DDL", []
    return None, []


def _statement(kind: str | None, tables: list[TableName], node: ast.Node | None, body: str
               ) -> Statement | None:
    if kind is not None:
        return Statement(kind, body, tables)
    if isinstance(node, ast.SelectStmt):
        found = _catalog_query(node)
        if found is not None:
            return Statement("CATALOG QUERY", body, found[0], found[1])
    return None


_FALLBACK = [
    ("DROP TABLE", re.compile(r"^\s*drop\s+table\b", re.I)),
    ("DROP", re.compile(r"^\s*drop\b", re.I)),
    ("TRUNCATE", re.compile(r"^\s*truncate\b", re.I)),
    ("ALTER ... DROP", re.compile(r"^\s*alter\s+table\b.*\bdrop\b", re.I | re.S)),
    ("DELETE without WHERE", re.compile(r"^\s*delete\s+from\s+(?!.*\bwhere\b)", re.I | re.S)),
    ("UPDATE without WHERE", re.compile(r"^\s*update\s+(?!.*\bwhere\b)", re.I | re.S)),
    ("DELETE", re.compile(r"^\s*delete\s+from\b", re.I)),
    ("DDL", re.compile(r"^\s*(create|alter|drop|truncate|grant|revoke|comment\s+on)\b", re.I)),
]


def fallback_kind(text: str) -> str | None:
    for kind, rx in _FALLBACK:
        if rx.search(text):
            return kind
    return None


def parse_statements(text: str) -> list[Statement]:
    """Every statement in ``text`` that is DDL or destructive, or a SELECT that lists tables
    from the catalogs (a "check the tables" script: kind CATALOG QUERY), in order, with its
    own text."""
    try:
        raw = parse_sql(text)
    except (ParseError, ValueError):
        kind = fallback_kind(text)
        return [Statement(kind, text)] if kind else []
    out = []
    for r in raw:
        kind, tables = _classify(r.stmt)
        start = r.stmt_location or 0
        body = text[start:start + r.stmt_len] if r.stmt_len else text[start:]
        st = _statement(kind, tables, r.stmt, body.strip().rstrip(";").strip())
        if st is not None:
            out.append(st)
    return out
