"""The inventory's catalog queries: locks, sizes, columns and foreign keys, relations, schema
counts.

They are the longest wait of a collection, so ``run.collect`` starts them as soon as the
snapshot is open, while the rest of reportgen (the pydantic models) is still importing. That
is why this module imports no models: the lock holders go to PostgreSQL as plain JSON (the
LockHolder fields), and the relations come back as JSON text: PostgreSQL builds each
relation's object but its columns and foreign keys, which this module writes from plain rows
while the server runs the relations query (the two processes work at once).

Round trips are constant whatever the table count.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as quote  # json's own, no ASCII escaping
from typing import Any

from reportgen.collect.queries import load
from reportgen.connection import Snapshot
from reportgen.memory import give_back

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

    # PostgreSQL builds most of each relation's JSON (relations.sql). Its columns and foreign
    # keys come first as plain rows (no aggregate: cheap for the server), and this process
    # turns them into JSON while the server runs relations.sql: two cores at work, not one.
    middles, found = snap.query_overlapped(
        [load("columns"), load("foreign_keys")], _columns_and_keys, load("relations"), {
            "sized_oids": [r["oid"] for r in rows],
            "sized_bytes": [r["total_bytes"] for r in rows],
            "locks": json.dumps({str(oid): holders for oid, holders in locked.items()}),
            "size_error": size_error, "max_sized": MAX_SIZED})
    count = len(found)
    # Never joined here: 50,000 relations make ~50 MB of JSON, hashed and written in pieces.
    # Each row's halves are let go as its piece is made, so the two never both stay whole.
    relations_json = [b"["]
    for i, (oid, head, tail) in enumerate(found):
        found[i] = ()
        # {head...} and {tail...}: without the brace that closes one and opens the other
        relations_json += (b"".join((memoryview(head)[:-1], middles.pop(oid, _NO_COLUMNS),
                                     memoryview(tail)[1:])), b",")
    if count:
        relations_json.pop()  # the last comma
    relations_json.append(b"]")
    del found, middles
    give_back()  # libpq's copies of the results: freed, but glibc would keep them
    return CatalogRows(locked=dict(locked), sizable=sizable, size_error=size_error,
                       relations_json=relations_json, count=count,
                       schema_counts=snap.query(load("schema_counts")))


#: What joins the two halves relations.sql returns for a relation with no column and no key.
_NO_COLUMNS = b', "columns": [], "foreign_keys": [], "primary_key": [], '


def _columns_and_keys(columns: Iterable[tuple[Any, ...]],
                      keys: Iterable[tuple[Any, ...]]) -> dict[int, bytes]:
    """Each relation's ``"columns"``, ``"foreign_keys"`` and ``"primary_key"`` JSON (the
    Relation model's fields, in its order), from columns.sql's and foreign_keys.sql's rows: by
    oid, the text that goes between the two halves of the relation's object from
    relations.sql. Written out by hand with the json module's own string quoting: a dict and
    an encoder call per column cost twice the time, and this runs while PostgreSQL works, so
    it must finish first. Rows are read as they come (a 50,000-table catalog has ~200,000
    columns: never all as tuples)."""
    cols: defaultdict[int, list[tuple[int, str, str]]] = defaultdict(list)
    typed: dict[tuple[Any, bool, bool], str] = {}
    for oid, num, name, type_, not_null, generated in columns:
        name = _text(name)
        rest = typed.get((type_, not_null, generated))
        if rest is None:
            rest = typed[type_, not_null, generated] = (
                f', "type": {quote(_text(type_))}, "not_null": '
                + ("true" if not_null else "false")
                + (', "generated": true}' if generated else "}"))
        cols[oid].append((num, name, '{"name": ' + quote(name) + rest))
    numbered: dict[int, dict[int, str]] = {}  # column names by number, for the keys' tables

    def named(oid: int, nums: list[int]) -> str:
        if (by_num := numbered.get(oid)) is None:
            by_num = numbered[oid] = {num: name for num, name, _ in cols.get(oid, ())}
        # A number with no column (never seen) still shows which one it was.
        return ", ".join([quote(by_num.get(n, f"#{n}")) for n in nums])

    fks: defaultdict[int, list[tuple[str, str]]] = defaultdict(list)
    pks: dict[int, str] = {}
    for oid, kind, con, nums, ref_oid, ref_schema, ref_table, ref_nums in keys:
        if kind == "p":
            pks[oid] = named(oid, nums)
            continue
        con = _text(con)
        fks[oid].append((con, f'{{"name": {quote(con)}, "columns": [{named(oid, nums)}], '
                              f'"ref_schema": {quote(_text(ref_schema))}, '
                              f'"ref_table": {quote(_text(ref_table))}, '
                              f'"ref_columns": [{named(ref_oid, ref_nums)}]}}'))
    numbered.clear()
    middles: dict[int, bytes] = {}
    for oid in cols.keys() | fks.keys() | pks.keys():
        # attnum order (numbers are unique); keys by name in code point order, as "C" sorts
        ordered = sorted(cols.pop(oid, ()))
        ordered_fks = sorted(fks.pop(oid, ()))
        middles[oid] = (', "columns": [' + ", ".join([c for _, _, c in ordered])
                        + '], "foreign_keys": [' + ", ".join([k for _, k in ordered_fks])
                        + '], "primary_key": [' + pks.pop(oid, "") + "], ").encode()
    return middles


def _text(value: str | bytes) -> str:
    """A name as str: psycopg gives bytes where the database is SQL_ASCII (no encoding)."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
