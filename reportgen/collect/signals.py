"""Signals that need no baseline: database counters and destructive statements from
pg_stat_statements. Both are optional: missing or unreadable is recorded, not fatal."""

from __future__ import annotations

from psycopg import sql

from reportgen.bundle import DatabaseStats, Signals, StatementStat
from reportgen.collect.queries import load
from reportgen.collect.statement_parse import parse_statements
from reportgen.connection import Snapshot

#: What pg_stat_statements is searched for (statement_parse's kinds).
DESTRUCTIVE = ("DROP TABLE", "DROP", "TRUNCATE", "ALTER ... DROP", "DELETE without WHERE",
               "UPDATE without WHERE")


def classify(query: str) -> str | None:
    """The destructive kind of a (normalized) statement, by PostgreSQL's parser."""
    found = [st.kind for st in parse_statements(query) if st.kind in DESTRUCTIVE]
    return found[0] if found else None


def collect_signals(snap: Snapshot) -> Signals:
    rows = snap.query(load("database_stats"))
    stats = DatabaseStats(**rows[0]) if rows else None
    ext = snap.query("SELECT n.nspname::pg_catalog.text AS schema_name "
                     "FROM pg_catalog.pg_extension e "
                     "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
                     "WHERE e.extname = 'pg_stat_statements'")
    if not ext:
        return Signals(database=stats, statements_available=False,
                       statements_note="pg_stat_statements is not installed in this database")
    # The extension's own schema, quoted: the view is never found through a search_path.
    query = sql.SQL(load("statements")).format(schema=sql.Identifier(ext[0]["schema_name"]))
    found, err = snap.query_guarded(query.as_string(snap.conn))
    if err:
        return Signals(database=stats, statements_available=False, statements_note=err)
    stmts = []
    for r in found:
        kind = classify(r["query"])
        if kind:
            stmts.append(StatementStat(kind=kind, query=r["query"][:500], calls=r["calls"],
                                       rows=r["rows"], user=r["user"]))
    return Signals(database=stats, statements_available=True, statements=stmts)
