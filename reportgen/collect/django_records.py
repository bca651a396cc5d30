"""Django's migration records (``django_migrations``); its absence is evidence too.

Only an ordinary or partitioned table is read, in a savepoint that is rolled back (its lock
ends with the statement). A view, materialized view or foreign table of that name is
reported and never read: selecting from a view runs whatever its owner wrote into it.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from reportgen.bundle import DjangoRecords, MigrationRecord
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
