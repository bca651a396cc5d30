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

#: One shared fields-set per model (pydantic keeps one set per instance otherwise: on a
#: 50,000-table catalog, tens of megabytes of identical sets).
_COLUMN_SET = set(Column.model_fields)
_FK_SET = set(ForeignKey.model_fields)
_RELATION_SET = set(Relation.model_fields)

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
    # columns.sql: oid, attnum, name, type, not_null
    for oid, attnum, name, typ, not_null in snap.query_tuples(load("columns")):
        attname[(oid, attnum)] = name
        rel = by_oid.get(oid)
        if rel is not None:
            rel["columns"].append(Column.model_construct(_COLUMN_SET, name=name, type=typ,
                                                         not_null=not_null))
    # constraints.sql: oid, name, contype, ref_oid, ref_schema, ref_table, conkey, confkey
    for oid, name, contype, ref_oid, ref_schema, ref_table, conkey, confkey in \
            snap.query_tuples(load("constraints")):
        rel = by_oid.get(oid)
        if rel is None:
            continue
        rel["constraints"].append(name)
        if contype == "f" and ref_table is not None:
            rel["foreign_keys"].append(ForeignKey.model_construct(
                _FK_SET, name=name, columns=[attname.get((oid, n), f"#{n}") for n in conkey or []],
                ref_schema=ref_schema, ref_table=ref_table,
                ref_columns=[attname.get((ref_oid, n), f"#{n}") for n in confkey or []]))
    del attname
    # indexes.sql: oid, name
    for oid, name in snap.query_tuples(load("indexes")):
        rel = by_oid.get(oid)
        if rel is not None:
            rel["indexes"].append(name)

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
    for oid in list(by_oid):
        r = by_oid.pop(oid)  # each row dict goes as soon as its model exists
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
            _RELATION_SET, schema_name=r["schema_name"], name=r["name"], kind=KINDS[r["relkind"]],
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
