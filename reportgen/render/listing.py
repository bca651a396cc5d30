"""The complete inventory as listings: ``inventory.csv`` and ``inventory.json``, one row per
relation, the same columns in both. The report's body summarises the inventory so its length
never depends on the catalog's size; these files carry every relation. They are written
beside the reports and attached to the PDF.

Names come from the database (DESIGN.md, "Trust"). The JSON keeps them exactly. In the CSV, a
cell a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) gets a leading ``'``, as OWASP advises against CSV injection; the JSON is
the exact record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from reportgen.analyze.model import Assessment
from reportgen.bundle import EvidenceBundle

CSV_NAME = "inventory.csv"
JSON_NAME = "inventory.json"
COLUMNS = ("schema", "name", "kind", "app", "rows_exact", "rows_estimate", "total_bytes",
           "estimated_bytes", "indexes", "foreign_keys_out", "primary_key", "readable",
           "last_analyze", "count_error")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _rows(bundle: EvidenceBundle, app_of: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    inv = bundle.inventory
    for r in inv.relations if inv is not None else ():
        yield {"schema": r.schema_name, "name": r.name, "kind": r.kind,
               "app": app_of.get(r.qualified), "rows_exact": r.exact_rows,
               "rows_estimate": r.row_estimate, "total_bytes": r.total_bytes,
               "estimated_bytes": r.estimated_bytes, "indexes": r.index_count,
               "foreign_keys_out": len(r.foreign_keys), "primary_key": r.primary_key,
               "readable": r.readable,
               "last_analyze": r.last_analyze.isoformat() if r.last_analyze else None,
               "count_error": r.count_error}


def inventory_listings(bundle: EvidenceBundle, app_of: Mapping[str, str]
                       ) -> list[tuple[str, bytes]]:
    """``inventory.csv`` and ``inventory.json`` (file name, bytes), made in one pass over
    the relations, a row at a time: 50,000 rows kept as dicts would take ~50 MB.

    The JSON has one relation per line (json's C encoder: an indented dump of 50,000 rows
    takes seconds in the pure-Python one), under the bundle's digest and the column names."""
    table = io.StringIO(newline="")
    w = csv.writer(table, lineterminator="\r\n")
    w.writerow(COLUMNS)
    head = {"bundle_digest": bundle.digest,
            "collected_at": bundle.collection.started_at.isoformat(), "columns": list(COLUMNS)}
    records = io.BytesIO()
    records.write((json.dumps(head, ensure_ascii=False)[:-1] + ', "relations": [\n').encode())
    sep = b""
    for row in _rows(bundle, app_of):
        w.writerow([_cell(row[c]) for c in COLUMNS])
        records.write(sep + json.dumps(row, ensure_ascii=False).encode())
        sep = b",\n"
    records.write(b"\n]}\n")
    return [(CSV_NAME, table.getvalue().encode("utf-8")), (JSON_NAME, records.getvalue())]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


TENANT_CSV = "tenants.csv"
TENANT_JSON = "tenants.json"
TENANT_COLUMNS = ("schema", "tenant", "schema_exists", "tracker", "recorded", "expected",
                  "recorded_own", "verdict", "severity", "stopped_at", "migrations", "missing",
                  "detail", "fix")


def tenant_listings(assessment: Assessment) -> list[tuple[str, bytes]]:
    """The whole tenant matrix, one row per tenant schema: ``tenants.csv`` and
    ``tenants.json`` (the report lists the worst and counts the rest)."""
    m = assessment.tenants
    if m is None:
        return []
    table = io.StringIO(newline="")
    w = csv.writer(table, lineterminator="\r\n")
    w.writerow(TENANT_COLUMNS)
    rows = []
    for r in m.rows:
        row = {"schema": r.schema_name, "tenant": r.tenant, "schema_exists": r.schema_exists,
               "tracker": r.tracker, "recorded": r.recorded, "expected": r.expected,
               "recorded_own": r.recorded_own, "verdict": r.verdict, "severity": r.severity,
               "stopped_at": r.stopped_at, "migrations": r.migrations, "missing": r.missing,
               "detail": r.detail, "fix": r.fix}
        w.writerow([_cell(row[c]) for c in TENANT_COLUMNS])
        rows.append(row)
    doc = {"bundle_digest": assessment.bundle_digest, "router": m.router,
           "public_schema": m.public_schema, "tenant_table": m.tenant_table, "error": m.error,
           "counts": m.counts(), "columns": list(TENANT_COLUMNS), "tenants": rows}
    return [(TENANT_CSV, table.getvalue().encode("utf-8")),
            (TENANT_JSON, (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode())]
