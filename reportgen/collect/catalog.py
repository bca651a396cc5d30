"""The inventory's catalog queries: locks, sizes, relations, schema counts.

They are the longest wait of a collection, so ``run.collect`` starts them as soon as the
snapshot is open, while the rest of reportgen (the pydantic models) is still importing. That
is why this module imports no models: the lock holders go to PostgreSQL as plain JSON (the
LockHolder fields), and the relations come back as the JSON text PostgreSQL built for them.

Round trips are constant whatever the table count.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportgen.collect.queries import load
from reportgen.connection import Snapshot

#: Exact sizes cost time: each size opens the relation, its indexes and its TOAST table (about
#: 0.1 ms a relation on a new connection). Bounded, so a 50,000-table catalog is sized in about
#: 0.1 s; the others keep their relpages estimate, and the report says which are which.
MAX_SIZED = 1000

_PASSWORD_LITERAL = re.compile(r"(password\s+)'(?:[^']|'')*'", re.IGNORECASE)


def redact_query(text: str | None) -> str | None:
    if text is None:
        return None
    return _PASSWORD_LITERAL.sub(r"\1'********'", text)


@dataclass
class CatalogRows:
    """What the catalog queries returned, before any model is built."""

    locked: dict[int, list[dict[str, Any]]]  # oid -> holders (LockHolder fields, JSON-ready)
    sizable: int  # relations that could have been sized
    size_error: str | None  # why no size could be read (the query was refused)
    relations_json: list[bytes]  # the JSON array of every relation (sorted by schema, name)
    #                              in pieces: joined, they are its text
    count: int
    schema_counts: list[dict[str, Any]]  # pg_class beside information_schema, per schema


def read_catalog(snap: Snapshot) -> CatalogRows:
    locked: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for lk in snap.query(load("locks")):
        xact_start: datetime | None = lk["xact_start"]
        waiting = lk["waiting_seconds"]
        locked[lk["oid"]].append({
            "pid": lk["pid"], "mode": lk["mode"], "granted": lk["granted"],
            "application_name": lk["application_name"], "user": lk["user"],
            "state": lk["state"],
            "xact_start": xact_start.isoformat() if xact_start is not None else None,
            "waiting_seconds": round(waiting, 1) if waiting is not None else None,
            "query": redact_query(lk["query"])})

    # Each size may wait for a lock: the largest MAX_SIZED only, inside a savepoint.
    rows, size_error = snap.query_releasing_locks(
        load("sizes"), {"locked": list(locked), "max_sized": MAX_SIZED})
    sizable = rows[0]["sizable"] if rows else 0

    found: list[bytes] = snap.query_column(load("relations"), {
        "sized_oids": [r["oid"] for r in rows], "sized_bytes": [r["total_bytes"] for r in rows],
        "locks": json.dumps({str(oid): holders for oid, holders in locked.items()}),
        "size_error": size_error, "max_sized": MAX_SIZED}, binary=True)
    count = len(found)
    # Never joined here: 50,000 relations make ~50 MB of JSON, hashed and written in pieces.
    relations_json = [b"["]
    for row in found:
        relations_json += (row, b",")
    if found:
        relations_json.pop()  # the last comma
    relations_json.append(b"]")
    del found
    return CatalogRows(locked=dict(locked), sizable=sizable, size_error=size_error,
                       relations_json=relations_json, count=count,
                       schema_counts=snap.query(load("schema_counts")))
