"""Exact row counts (``--exact-counts``): count(*) per table inside the same snapshot, each
bounded by its own statement_timeout, the whole run by a time budget. Locked tables are not
touched; tables not counted say why. Round trips grow with the table count here (3 a table),
which is why this is opt-in."""

from __future__ import annotations

import time
from collections.abc import Callable

from psycopg import sql

from reportgen.bundle import ExactCounts, Inventory, Relation
from reportgen.connection import Snapshot

Progress = Callable[[int, int, str], None]
COUNTED_KINDS = ("table", "partitioned table", "materialized view")


def suspicious(r: Relation) -> bool:
    """A table the statistics say had rows written and holds none live: counted even without
    --exact-counts, so the report can say confirmed or cleared instead of suspected."""
    return r.kind == "table" and (r.inserted_tuples or 0) > 0 and r.live_tuples == 0


#: At most this many suspicious tables are counted without --exact-counts.
MAX_TARGETED = 50


def count_rows(snap: Snapshot, inv: Inventory, *, per_table_ms: int, budget_s: float,
               statement_timeout_ms: int, progress: Progress | None = None,
               only: Callable[[Relation], bool] | None = None) -> ExactCounts:
    """count(*) every table (``only``: just those it accepts, at most MAX_TARGETED)."""
    started = time.monotonic()
    tables = [r for r in inv.relations if r.kind in COUNTED_KINDS]
    if only is not None:
        tables = [r for r in tables if only(r)][:MAX_TARGETED]
    counted = skipped = 0
    snap.query(f"SET LOCAL statement_timeout = {int(per_table_ms)}")
    try:
        for i, r in enumerate(tables, start=1):
            if progress:
                progress(i, len(tables), r.qualified)
            if r.locked_by:
                r.count_error = f"not counted: locked ACCESS EXCLUSIVE by pid {r.locked_by[0].pid}"
            elif r.readable is None:
                r.count_error = "not counted: dropped by another session during collection"
            elif not r.readable:
                r.count_error = "not counted: the role holds no SELECT on it"
            elif time.monotonic() - started > budget_s:
                r.count_error = f"not counted: the {budget_s:g} s budget was used up"
            else:
                q = sql.SQL("SELECT pg_catalog.count(*) AS n FROM {}.{}").format(
                    sql.Identifier(r.schema_name), sql.Identifier(r.name))
                rows, err = snap.query_releasing_locks(q.as_string(snap.conn))
                if err:
                    r.count_error = f"not counted: {err}"
                else:
                    r.exact_rows = int(rows[0]["n"])
                    counted += 1
                    continue
            skipped += 1
    finally:
        snap.query(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
    return ExactCounts(requested=only is None, targeted=only is not None, counted=counted,
                       skipped=skipped, per_table_timeout_ms=per_table_ms, budget_s=budget_s,
                       duration_s=round(time.monotonic() - started, 3))
