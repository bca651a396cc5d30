"""Django's migration records (``django_migrations``); its absence is evidence too."""

from __future__ import annotations

from psycopg import sql

from reportgen.bundle import DjangoRecords, MigrationRecord
from reportgen.collect.queries import load
from reportgen.connection import Snapshot


def collect_django_records(snap: Snapshot) -> DjangoRecords:
    found = snap.query(load("django_tables"))
    if not found:
        return DjangoRecords(table_present=False)
    first = found[0]
    schema = first["schema_name"]
    if not first["readable"]:
        return DjangoRecords(table_present=True, schema_name=schema, readable=False,
                             error="the collecting role holds no SELECT on django_migrations")
    query = sql.SQL("SELECT app, name, applied FROM {}.django_migrations ORDER BY id").format(
        sql.Identifier(schema))
    rows, error = snap.query_guarded(query.as_string(snap.conn))
    if error:
        return DjangoRecords(table_present=True, schema_name=schema, readable=False, error=error)
    return DjangoRecords(
        table_present=True, schema_name=schema,
        records=[MigrationRecord(app=r["app"], name=r["name"], applied=r["applied"])
                 for r in rows])
