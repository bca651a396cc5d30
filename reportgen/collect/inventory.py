"""Inventory: every user relation, set-based, with sizes read only where no lock is in the way.

Round trips are constant whatever the table count: locks, sizes (inside a savepoint),
columns, foreign keys, the relations, schema counts (catalog.py). Each relation's JSON is
built by PostgreSQL (sql/relations.sql) and, for its columns and keys, by catalog.py, so a
large catalog is never turned into Python objects field by field on the way to the bundle:
the relations stay JSON text, checked against the models whenever the bundle is loaded (and
at once when the catalog is small enough to keep every bundle indented and readable).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydantic import TypeAdapter

from reportgen.bundle import Inventory, Relation, SchemaCount
from reportgen.collect.catalog import MAX_SIZED, CatalogRows

EXCLUDED_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast*", "pg_temp_*"]


@dataclass
class CollectedInventory:
    """The inventory as collected: everything but the relations as a model, the relations as
    the JSON array text PostgreSQL built (sorted by schema, name)."""

    meta: Inventory  # relations=[]: they are in relations_json
    relations_json: list[bytes]  # the array's text, in pieces
    count: int

    def materialize(self) -> Inventory:
        """The full model, every relation validated (small catalogs, --exact-counts)."""
        relations = _relations_adapter().validate_json(b"".join(self.relations_json))
        return self.meta.model_copy(update={"relations": relations})


@cache
def _relations_adapter() -> TypeAdapter[list[Relation]]:
    return TypeAdapter(list[Relation])


def collect_inventory(catalog: CatalogRows) -> CollectedInventory:
    """The inventory from the catalog queries' rows (catalog.read_catalog)."""
    locked, size_error, sizable = catalog.locked, catalog.size_error, catalog.sizable
    counts = [SchemaCount(**row) for row in catalog.schema_counts]
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
    return CollectedInventory(meta=meta, relations_json=catalog.relations_json,
                              count=catalog.count)
