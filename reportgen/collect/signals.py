"""Signals that need no baseline: database counters and destructive statements from
pg_stat_statements. Both are optional: missing or unreadable is recorded, not fatal."""

from __future__ import annotations

import re

from psycopg import sql

from reportgen.bundle import DatabaseStats, Signals, StatementStat
from reportgen.collect.queries import load
from reportgen.connection import Snapshot

_KIND = [
    ("DROP TABLE", re.compile(r"^\s*drop\s+table\b", re.I)),
    ("DROP", re.compile(r"^\s*drop\b", re.I)),
    ("TRUNCATE", re.compile(r"^\s*truncate\b", re.I)),
    ("ALTER ... DROP", re.compile(r"^\s*alter\s+table\b.*\bdrop\b", re.I | re.S)),
    ("DELETE without WHERE", re.compile(r"^\s*delete\s+from\s+(?!.*\bwhere\b)", re.I | re.S)),
    ("UPDATE without WHERE", re.compile(r"^\s*update\s+(?!.*\bwhere\b)", re.I | re.S)),
]


def classify(query: str) -> str | None:
    for kind, rx in _KIND:
        if rx.search(query):
            return kind
    return None


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
