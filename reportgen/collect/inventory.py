"""Inventory: every user relation, set-based, with sizes read only where no lock is in the way.

Round trips are constant whatever the table count: relations, columns, constraints, indexes,
locks, sizes (inside a savepoint), schema counts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from reportgen.bundle import Column, ForeignKey, Inventory, LockHolder, Relation, SchemaCount
from reportgen.collect.queries import load
from reportgen.connection import Snapshot

#: Sizing takes one lock per relation (and its indexes/TOAST): bounded, so a huge catalog
#: never exhausts max_locks_per_transaction.
MAX_SIZED = 1000

KINDS: dict[str, Any] = {
    "r": "table", "p": "partitioned table", "v": "view", "m": "materialized view",
    "f": "foreign table",
}
EXCLUDED_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast*", "pg_temp_*"]

_PASSWORD_LITERAL = re.compile(r"(password\s+)'(?:[^']|'')*'", re.IGNORECASE)


def redact_query(text: str | None) -> str | None:
    if text is None:
        return None
    return _PASSWORD_LITERAL.sub(r"\1'********'", text)


def collect_inventory(snap: Snapshot) -> Inventory:
    """Models are built with model_construct: the rows come typed from the catalog, and on a
    50,000-table catalog validating them again would double the collection time. Every load
    of a bundle validates it in full."""
    rels = snap.query(load("relations"))
    by_oid: dict[int, dict[str, Any]] = {}
    for r in rels:
        r["columns"], r["foreign_keys"], r["indexes"], r["constraints"] = [], [], [], []
        r["locked_by"] = []
        by_oid[r["oid"]] = r

    attname: dict[tuple[int, int], str] = {}
    for c in snap.query(load("columns")):
        attname[(c["oid"], c["attnum"])] = c["name"]
        rel = by_oid.get(c["oid"])
        if rel is not None:
            rel["columns"].append(Column.model_construct(
                name=c["name"], type=c["type"], not_null=c["not_null"]))
    for k in snap.query(load("constraints")):
        rel = by_oid.get(k["oid"])
        if rel is None:
            continue
        rel["constraints"].append(k["name"])
        if k["contype"] == "f" and k["ref_table"] is not None:
            rel["foreign_keys"].append(ForeignKey.model_construct(
                name=k["name"],
                columns=[attname.get((k["oid"], n), f"#{n}") for n in k["conkey"] or []],
                ref_schema=k["ref_schema"], ref_table=k["ref_table"],
                ref_columns=[attname.get((k["ref_oid"], n), f"#{n}")
                             for n in k["confkey"] or []]))
    for i in snap.query(load("indexes")):
        if i["oid"] in by_oid:
            by_oid[i["oid"]]["indexes"].append(i["name"])

    locked: dict[int, list[LockHolder]] = defaultdict(list)
    for lk in snap.query(load("locks")):
        locked[lk["oid"]].append(LockHolder(
            pid=lk["pid"], mode=lk["mode"], granted=lk["granted"],
            application_name=lk["application_name"], user=lk["user"], state=lk["state"],
            xact_start=lk["xact_start"],
            waiting_seconds=round(lk["waiting_seconds"], 1)
            if lk["waiting_seconds"] is not None else None,
            query=redact_query(lk["query"])))

    sizable = sorted((oid for oid, r in by_oid.items()
                      if r["relkind"] in ("r", "p", "m", "f") and oid not in locked),
                     key=lambda o: -by_oid[o]["estimated_bytes"])
    sizes: dict[int, int] = {}
    size_error = None
    if sizable:
        # Each size takes a lock: read the largest MAX_SIZED, and give the locks back at once.
        rows, size_error = snap.query_releasing_locks(load("sizes"),
                                                      {"oids": sizable[:MAX_SIZED]})
        sizes = {row["oid"]: row["total_bytes"] for row in rows}

    relations = []
    for oid, r in by_oid.items():
        holders = locked.get(oid, [])
        total = sizes.get(oid)
        err = None
        if r["relkind"] == "v":
            err = "views have no storage"
        elif holders:
            err = "not sized: another session holds or awaits ACCESS EXCLUSIVE (see locked_by)"
        elif total is None and size_error:
            err = f"size not read: {size_error}"
        elif total is None:
            err = f"estimate only: exact sizes are read for the {MAX_SIZED} largest relations"
        relations.append(Relation.model_construct(
            schema_name=r["schema_name"], name=r["name"], kind=KINDS[r["relkind"]],
            owner=r["owner"], is_partition=r["is_partition"],
            row_estimate=None if r["reltuples"] is None or r["reltuples"] < 0
            else int(r["reltuples"]),
            estimated_bytes=r["estimated_bytes"], total_bytes=total, size_error=err,
            index_count=r["index_count"], indexes=r["indexes"], constraints=r["constraints"],
            columns=r["columns"], foreign_keys=r["foreign_keys"], readable=r["readable"],
            live_tuples=r["live_tuples"], dead_tuples=r["dead_tuples"],
            inserted_tuples=r["inserted_tuples"], updated_tuples=r["updated_tuples"],
            deleted_tuples=r["deleted_tuples"], last_analyze=r["last_analyze"],
            last_vacuum=r["last_vacuum"], locked_by=holders, exact_rows=None,
            count_error=None))

    counts = [SchemaCount(**row) for row in snap.query(load("schema_counts"))]
    complete = size_error is None and not locked and len(sizable) <= MAX_SIZED
    why = None
    if locked:
        why = f"{len(locked)} relation(s) locked ACCESS EXCLUSIVE by other sessions"
    if len(sizable) > MAX_SIZED:
        why = (f"exact sizes read for the {MAX_SIZED} largest of {len(sizable)} relations; "
               "the rest are relpages estimates")
    if size_error:
        why = f"size query refused ({size_error}); sizes are relpages estimates"
    return Inventory(relations=relations, schema_counts=counts,
                     excluded_schemas=EXCLUDED_SCHEMAS, sizes_complete=complete,
                     size_error=why)
