"""What a migration's SQL creates and removes, read with PostgreSQL's own grammar (pglast).

For the trackers whose migrations are SQL (golang-migrate, Flyway, Prisma, sqitch) and for
Alembic, whose revisions' SQL comes from its offline mode: each statement becomes the schema
objects it creates or removes (tables, columns, named indexes and constraints, unnamed keys
by their columns), named as PostgreSQL stores them (unquoted names folded to lower case), in
the bundle's ``SchemaObject`` form, the same as Django mode writes. What the grammar shows
but this reader does not turn into objects (a function's body, a DO block, dynamic SQL, a
statement it does not model) is *unverifiable*, with the reason; data statements (INSERT,
UPDATE, DELETE) change no schema and are neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.parser import ParseError

from reportgen.bundle import SchemaObject

#: Statements that change rows, not the schema: nothing to compare, nothing unverifiable.
_DATA = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.SelectStmt, ast.TransactionStmt,
         ast.VariableSetStmt, ast.CommentStmt, ast.GrantStmt, ast.LockStmt)
#: Trackers' own tables: their rows and creation are the tracker's, not the migration's.
TRACKER_TABLES = frozenset({"alembic_version", "schema_migrations", "flyway_schema_history",
                            "_prisma_migrations"})


@dataclass
class Effects:
    creates: list[SchemaObject] = field(default_factory=list)
    removes: list[SchemaObject] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)
    #: Statements of the migration's own (not a transaction's BEGIN/COMMIT, nor a write to
    #: a tracker's table): none means it changes nothing at all.
    statements: int = 0
    #: PostgreSQL runs it as one transaction when sent as one query: no COMMIT of its own
    #: (a BEGIN first and a COMMIT last aside) and no statement that cannot run inside a
    #: transaction block (CREATE INDEX CONCURRENTLY, VACUUM).
    atomic: bool = True
    #: It opens with BEGIN and ends with COMMIT (psql runs it as one transaction then).
    wrapped: bool = False


def effects_of_sql(sql: str) -> Effects:
    """The schema objects ``sql`` creates and removes, in statement order (an object created
    and removed by the same SQL is neither)."""
    trail: list[tuple[bool, SchemaObject]] = []
    out = Effects(creates=_Logged(trail, True), removes=_Logged(trail, False))
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        out.unverifiable.append(f"not PostgreSQL's grammar: {exc}")
        return out
    nodes = [raw.stmt for raw in statements if raw.stmt is not None]
    for st in nodes:
        out.statements += not _bookkeeping(st)
        _statement(st, out)
    out.atomic = _atomic(nodes)
    tx = [i for i, st in enumerate(nodes) if isinstance(st, ast.TransactionStmt)]
    out.wrapped = len(nodes) > 1 and tx == [0, len(nodes) - 1]
    return _net(out, trail)


def _atomic(nodes: list[ast.Node]) -> bool:
    tx = [i for i, st in enumerate(nodes) if isinstance(st, ast.TransactionStmt)]
    wrapped = tx in ([], [0, len(nodes) - 1])
    outside = any((isinstance(st, ast.IndexStmt) and st.concurrent)
                  or isinstance(st, ast.VacuumStmt) for st in nodes)
    return wrapped and not outside


def _net(out: Effects, trail: list[tuple[bool, SchemaObject]]) -> Effects:
    """What is left once every statement ran: an object created then removed is neither;
    one removed then created again (an index rebuilt) is created."""
    first: dict[tuple[str, str, str | None, tuple[str, ...] | None], bool] = {}
    last: dict[tuple[str, str, str | None, tuple[str, ...] | None],
               tuple[int, bool, SchemaObject]] = {}
    for i, (created, o) in enumerate(trail):
        if o.kind == "table" and not created:  # its columns and keys go with it
            for k in [k for k in last if k[0] != "table" and k[1] == o.table]:
                del last[k]
        first.setdefault(_key(o), created)
        last[_key(o)] = (i, created, o)
    ordered = sorted(last.items(), key=lambda kv: kv[1][0])
    out.creates = [o for _, (_, c, o) in ordered if c]
    out.removes = [o for k, (_, c, o) in ordered if not c and not first[k]]
    return out


class _Logged(list[SchemaObject]):
    """creates or removes, each append also written to the one trail of both, in order."""

    def __init__(self, trail: list[tuple[bool, SchemaObject]], created: bool) -> None:
        super().__init__()
        self.trail, self.created = trail, created

    def append(self, o: SchemaObject) -> None:
        super().append(o)
        self.trail.append((self.created, o))


def _bookkeeping(st: ast.Node) -> bool:
    """A transaction's own statement, or one that creates or writes a tracker's table."""
    if isinstance(st, ast.TransactionStmt):
        return True
    rel = getattr(st, "relation", None)
    return isinstance(rel, ast.RangeVar) and _rel(rel) in TRACKER_TABLES


def _key(o: SchemaObject) -> tuple[str, str, str | None, tuple[str, ...] | None]:
    table = "" if o.kind == "index" else o.table  # DROP INDEX names no table
    return (o.kind, table, o.name, tuple(o.columns) if o.columns is not None else None)


def _statement(st: ast.Node, out: Effects) -> None:
    if isinstance(st, _DATA):
        return
    if isinstance(st, ast.CreateStmt):
        _create_table(st, out)
    elif isinstance(st, ast.AlterTableStmt) and st.objtype == ObjectType.OBJECT_TABLE:
        table = _rel(st.relation)
        if table in TRACKER_TABLES:
            return
        for cmd in st.cmds or ():
            _alter(table, cmd, out)
    elif isinstance(st, ast.IndexStmt):
        if st.idxname is None:
            out.unverifiable.append(f"an index on {_rel(st.relation)} without a name "
                                    "(PostgreSQL chooses it)")
        else:
            out.creates.append(SchemaObject(kind="index", table=_rel(st.relation),
                                            name=st.idxname))
    elif isinstance(st, ast.DropStmt):
        _drop(st, out)
    elif isinstance(st, ast.RenameStmt):
        out.unverifiable.append(f"a rename ({_object_type(st.renameType)}): matched by name, "
                                "it cannot be told from a drop and a create")
    else:
        out.unverifiable.append(f"{type(st).__name__}: not modelled")


def _create_table(st: ast.CreateStmt, out: Effects) -> None:
    table = _rel(st.relation)
    if table in TRACKER_TABLES:
        return
    out.creates.append(SchemaObject(kind="table", table=table))
    for elt in st.tableElts or ():
        if isinstance(elt, ast.ColumnDef):
            col = _text(elt.colname)
            out.creates.append(SchemaObject(kind="column", table=table, name=col))
            for c in elt.constraints or ():
                _constraint(table, c, [col], out.creates)
        elif isinstance(elt, ast.Constraint):
            _constraint(table, elt, None, out.creates)


def _alter(table: str, cmd: ast.AlterTableCmd, out: Effects) -> None:
    if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
        col = _text(cmd.def_.colname)
        out.creates.append(SchemaObject(kind="column", table=table, name=col))
        for c in cmd.def_.constraints or ():
            _constraint(table, c, [col], out.creates)
    elif cmd.subtype == AlterTableType.AT_DropColumn:
        out.removes.append(SchemaObject(kind="column", table=table, name=cmd.name))
    elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
        _constraint(table, cmd.def_, None, out.creates)
    elif cmd.subtype == AlterTableType.AT_DropConstraint:
        out.removes.append(SchemaObject(kind="constraint", table=table, name=cmd.name))
    # The others (types, defaults, NOT NULL, storage, owner) change no object a catalog
    # comparison matches by name.


def _constraint(table: str, c: ast.Constraint, columns: list[str] | None,
                into: list[SchemaObject]) -> None:
    """A named constraint by its name; an unnamed key by its columns (PostgreSQL names it)."""
    kind = c.contype
    if kind in (ConstrType.CONSTR_NULL, ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_DEFAULT,
                ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED):
        return
    cols = [k.sval for k in c.keys] if c.keys else \
        [k.sval for k in c.fk_attrs] if c.fk_attrs else columns
    if c.conname:
        into.append(SchemaObject(kind="constraint", table=table, name=c.conname))
    elif kind == ConstrType.CONSTR_FOREIGN and cols:
        ref = c.pktable.relname if c.pktable is not None else None
        into.append(SchemaObject(kind="foreign_key", table=table, columns=cols, ref_table=ref))
    elif kind in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) and cols:
        into.append(SchemaObject(kind="unique", table=table, columns=cols))


def _drop(st: ast.DropStmt, out: Effects) -> None:
    kind = {ObjectType.OBJECT_TABLE: "table", ObjectType.OBJECT_INDEX: "index"}.get(
        st.removeType) if st.removeType is not None else None
    if kind is None:
        out.unverifiable.append(f"DROP {_object_type(st.removeType)}: not modelled")
        return
    for names in st.objects or ():
        name = names[-1].sval  # schema-qualified or not: the last part is the object
        if kind == "table" and name not in TRACKER_TABLES:
            out.removes.append(SchemaObject(kind="table", table=name))
        elif kind == "index":
            # DROP INDEX names no table: the index is matched by its name alone.
            out.removes.append(SchemaObject(kind="index", table="", name=name))


def _object_type(t: ObjectType | None) -> str:
    return t.name.removeprefix("OBJECT_").lower().replace("_", " ") if t else "object"


def _rel(rv: ast.RangeVar | None) -> str:
    """The relation a statement names, as PostgreSQL stores it (its schema is not kept:
    the catalog comparison matches tables by name within the migrated schema)."""
    return _text(rv.relname if rv is not None else None)


def _text(name: str | None) -> str:
    return name or ""
