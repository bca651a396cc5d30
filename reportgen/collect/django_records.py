"""Django's migration records (``django_migrations``); its absence is evidence too.

Only an ordinary or partitioned table is read, in a savepoint that is rolled back (its lock
ends with the statement). A view, materialized view or foreign table of that name is
reported and never read: selecting from a view runs whatever its owner wrote into it.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from reportgen.bundle import (
    DjangoRecords,
    MigrationRecord,
    SchemaTrackers,
    Tenancy,
    TenantTable,
)
from reportgen.collect.queries import load
from reportgen.connection import Snapshot, search_path_schemas

#: pg_class.relkind values that are stored tables (the only ones read).
TABLE_KINDS = ("r", "p")
KIND_NAMES = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
              "f": "foreign table"}


def not_read(row: dict[str, Any], table: str) -> str:
    """Why a tracker "table" that is not a stored table was left unread."""
    kind = KIND_NAMES.get(row["relkind"], f"relkind {row['relkind']!r}")
    return (f"{row['schema_name']}.{table} is a {kind}, not a table: not read (reading it "
            "would run code its owner controls)")


def collect_django_records(snap: Snapshot, user: str) -> DjangoRecords:
    found = snap.query(load("django_tables"), {
        "search_path": search_path_schemas(snap.session_search_path, user)})
    if not found:
        return DjangoRecords(table_present=False)
    tables = [r for r in found if r["relkind"] in TABLE_KINDS]
    ignored = [not_read(r, "django_migrations") for r in found if r["relkind"] not in TABLE_KINDS]
    if not tables:
        return DjangoRecords(table_present=True, schema_name=found[0]["schema_name"],
                             readable=False, error=ignored[0], ignored=ignored)
    first = tables[0]
    schema = first["schema_name"]
    if not first["readable"]:
        return DjangoRecords(table_present=True, schema_name=schema, readable=False,
                             error="the collecting role holds no SELECT on django_migrations",
                             ignored=ignored)
    query = sql.SQL("SELECT app, name, applied FROM {}.django_migrations ORDER BY id").format(
        sql.Identifier(schema))
    rows, error = snap.query_guarded(query.as_string(snap.conn))
    if error:
        return DjangoRecords(table_present=True, schema_name=schema, readable=False, error=error,
                             ignored=ignored)
    return DjangoRecords(
        table_present=True, schema_name=schema, ignored=ignored, rewritten=first["rewritten"],
        records=[MigrationRecord(app=r["app"], name=r["name"], applied=r["applied"])
                 for r in rows])


#: At most this many django_migrations tables are read (schema per tenant); the rest are
#: reported as not read.
MAX_TRACKERS = 20_000
#: Tracker tables read per statement (each statement locks what it reads until its
#: savepoint is rolled back: well inside max_locks_per_transaction).
CHUNK = 200
#: Tenant rows read from the tenant table at most.
MAX_TENANTS = 100_000


def collect_schema_trackers(snap: Snapshot, user: str, tenancy: Tenancy | None
                            ) -> SchemaTrackers | None:
    """Every schema's django_migrations, when there is more than one or the settings lay out
    tenants: one statement per CHUNK tables (a UNION ALL of each table's rows, tagged with its
    schema), each in a rolled-back savepoint; a chunk PostgreSQL refuses is read table by
    table, so one table the role may not read costs only that table."""
    found = snap.query(load("django_tables"), {
        "search_path": search_path_schemas(snap.session_search_path, user)})
    if len(found) < 2 and tenancy is None:
        return None
    schemas = [r["s"] for r in snap.query(
        "SELECT n.nspname::pg_catalog.text AS s FROM pg_catalog.pg_namespace n "
        "WHERE n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
        "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
        "ORDER BY n.nspname COLLATE pg_catalog.\"C\"")]
    found = sorted(found, key=lambda r: r["schema_name"].encode())
    truncated = len(found) > MAX_TRACKERS
    trackers: dict[str, DjangoRecords] = {}
    readable: list[dict[str, Any]] = []
    for r in found[:MAX_TRACKERS]:
        schema = r["schema_name"]
        if r["relkind"] not in TABLE_KINDS:
            trackers[schema] = DjangoRecords(table_present=True, schema_name=schema,
                                             readable=False,
                                             error=not_read(r, "django_migrations"))
        elif not r["readable"]:
            trackers[schema] = DjangoRecords(
                table_present=True, schema_name=schema, readable=False,
                error="the collecting role holds no SELECT on django_migrations")
        else:
            readable.append(r)
    for i in range(0, len(readable), CHUNK):
        chunk = readable[i:i + CHUNK]
        rows, error = snap.query_guarded(_union(snap, [r["schema_name"] for r in chunk]))
        if error is not None and len(chunk) > 1:
            for r in chunk:
                _read_into(trackers, snap, [r])
            continue
        _store(trackers, chunk, rows, error)
    tenant_table = _tenant_table(snap, tenancy) if tenancy is not None else None
    return SchemaTrackers(trackers=[trackers[k] for k in sorted(trackers, key=str.encode)],
                          schemas=schemas, tenant_table=tenant_table, truncated=truncated)


def _union(snap: Snapshot, schemas: list[str]) -> str:
    parts = [sql.SQL("SELECT {} AS s, id, app, name, applied FROM {}.django_migrations").format(
        sql.Literal(s), sql.Identifier(s)) for s in schemas]
    return sql.SQL("{} ORDER BY 1, 2").format(
        sql.SQL(" UNION ALL ").join(parts)).as_string(snap.conn)


def _read_into(trackers: dict[str, DjangoRecords], snap: Snapshot,
               chunk: list[dict[str, Any]]) -> None:
    rows, error = snap.query_guarded(_union(snap, [r["schema_name"] for r in chunk]))
    _store(trackers, chunk, rows, error)


def _store(trackers: dict[str, DjangoRecords], chunk: list[dict[str, Any]],
           rows: list[dict[str, Any]], error: str | None) -> None:
    by_schema: dict[str, list[MigrationRecord]] = {r["schema_name"]: [] for r in chunk}
    for row in rows:
        by_schema[row["s"]].append(MigrationRecord(app=row["app"], name=row["name"],
                                                   applied=row["applied"]))
    for r in chunk:
        schema = r["schema_name"]
        trackers[schema] = DjangoRecords(
            table_present=True, schema_name=schema, readable=error is None, error=error,
            rewritten=r["rewritten"], records=by_schema[schema] if error is None else [])


def _tenant_table(snap: Snapshot, tenancy: Tenancy) -> TenantTable | None:
    """The tenant model's table in the shared schema, read only when it is a stored table
    (a view of that name would run its owner's code)."""
    if tenancy.tenant_table is None:
        return None
    schema, table, column = tenancy.public_schema, tenancy.tenant_table, tenancy.tenant_column
    shown = f"{schema}.{table}"
    kind = snap.query(
        "SELECT c.relkind::pg_catalog.text AS relkind, "
        "pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname OPERATOR(pg_catalog.=) %(s)s AND c.relname OPERATOR(pg_catalog.=) %(t)s",
        {"s": schema, "t": table})
    if not kind:
        return TenantTable(table=shown, column=column, error=f"{shown} does not exist")
    if kind[0]["relkind"] not in TABLE_KINDS:
        return TenantTable(table=shown, column=column,
                           error=not_read({**kind[0], "schema_name": schema}, table))
    if not kind[0]["readable"]:
        return TenantTable(table=shown, column=column,
                           error=f"the collecting role holds no SELECT on {shown}")
    query = sql.SQL("SELECT {c}::pg_catalog.text AS s FROM {s}.{t} ORDER BY 1 LIMIT {n}").format(
        c=sql.Identifier(column), s=sql.Identifier(schema), t=sql.Identifier(table),
        n=sql.Literal(MAX_TENANTS + 1))
    rows, error = snap.query_guarded(query.as_string(snap.conn))
    if error is not None:
        return TenantTable(table=shown, column=column, error=error)
    if len(rows) > MAX_TENANTS:
        return TenantTable(table=shown, column=column,
                           error=f"more than {MAX_TENANTS:,} tenants: not read")
    return TenantTable(table=shown, column=column,
                       schema_names=sorted({r["s"] for r in rows if r["s"] is not None},
                                           key=str.encode))
