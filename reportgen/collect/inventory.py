"""Inventory: every user relation, set-based, with sizes read only where no lock is in the way.

Round trips are constant whatever the table count: locks, sizes (inside a savepoint), the
relations, schema counts. PostgreSQL builds each relation's JSON (sql/relations.sql), so a
large catalog is never turned into Python objects on the way to the bundle: the relations
stay JSON text, checked against the models whenever the bundle is loaded (and at once when
the catalog is small enough to keep every bundle indented and readable).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from pydantic import TypeAdapter

from reportgen.bundle import Inventory, LockHolder, Relation, SchemaCount
from reportgen.collect.queries import load
from reportgen.connection import Snapshot

#: Sizing takes one lock per relation (and its indexes/TOAST): bounded, so a huge catalog
#: never exhausts max_locks_per_transaction.
MAX_SIZED = 1000

EXCLUDED_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast*", "pg_temp_*"]

_PASSWORD_LITERAL = re.compile(r"(password\s+)'(?:[^']|'')*'", re.IGNORECASE)


def redact_query(text: str | None) -> str | None:
    if text is None:
        return None
    return _PASSWORD_LITERAL.sub(r"\1'********'", text)


@dataclass
class CollectedInventory:
    """The inventory as collected: everything but the relations as a model, the relations as
    the JSON array text PostgreSQL built (sorted by schema, name)."""

    meta: Inventory  # relations=[]: they are in relations_json
    relations_json: bytes
    count: int

    def materialize(self) -> Inventory:
        """The full model, every relation validated (small catalogs, --exact-counts)."""
        relations = _relations_adapter().validate_json(self.relations_json)
        return self.meta.model_copy(update={"relations": relations})


@cache
def _relations_adapter() -> TypeAdapter[list[Relation]]:
    return TypeAdapter(list[Relation])


def collect_inventory(snap: Snapshot) -> CollectedInventory:
    locked: dict[int, list[LockHolder]] = defaultdict(list)
    for lk in snap.query(load("locks")):
        locked[lk["oid"]].append(LockHolder(
            pid=lk["pid"], mode=lk["mode"], granted=lk["granted"],
            application_name=lk["application_name"], user=lk["user"], state=lk["state"],
            xact_start=lk["xact_start"],
            waiting_seconds=round(lk["waiting_seconds"], 1)
            if lk["waiting_seconds"] is not None else None,
            query=redact_query(lk["query"])))

    # Each size takes a lock: read the largest MAX_SIZED, and give the locks back at once.
    rows, size_error = snap.query_releasing_locks(
        load("sizes"), {"locked": list(locked), "max_sized": MAX_SIZED})
    sizable = rows[0]["sizable"] if rows else 0

    locks_json = json.dumps({str(oid): [h.model_dump(mode="json") for h in holders]
                             for oid, holders in locked.items()})
    found = snap.query_tuples(load("relations"), {
        "sized_oids": [r["oid"] for r in rows], "sized_bytes": [r["total_bytes"] for r in rows],
        "locks": locks_json, "size_error": size_error, "max_sized": MAX_SIZED}, binary=True)
    found.sort(key=lambda row: (row[0], row[1]))
    count = len(found)
    # One allocation for the whole array (50,000 relations make ~50 MB of JSON).
    pieces = [b"["]
    for row in found:
        pieces += (row[2], b",")
    if found:
        pieces.pop()  # the last comma
    pieces.append(b"]")
    del found
    relations_json = b"".join(pieces)
    del pieces

    counts = [SchemaCount(**row) for row in snap.query(load("schema_counts"))]
    complete = size_error is None and not locked and sizable <= MAX_SIZED
    why = None
    if locked:
        why = f"{len(locked)} relation(s) locked ACCESS EXCLUSIVE by other sessions"
    if sizable > MAX_SIZED:
        why = (f"exact sizes read for the {MAX_SIZED} largest of {sizable} relations; "
               "the rest are relpages estimates")
    if size_error:
        why = f"size query refused ({size_error}); sizes are relpages estimates"
    meta = Inventory(relations=[], schema_counts=counts, excluded_schemas=EXCLUDED_SCHEMAS,
                     sizes_complete=complete, size_error=why)
    return CollectedInventory(meta=meta, relations_json=relations_json, count=count)
