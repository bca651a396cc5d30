"""Compare two bundles (baseline → current): what was dropped, added or shrank."""

from __future__ import annotations

from dataclasses import dataclass, field

from reportgen.analyze.model import Finding
from reportgen.bundle import EvidenceBundle, Relation

STORED = ("table", "partitioned table", "materialized view")


@dataclass
class RowChange:
    table: str
    before: int
    after: int
    basis: str  # "estimate"


@dataclass
class BundleDiff:
    lost_tables: list[str] = field(default_factory=list)
    added_tables: list[str] = field(default_factory=list)
    lost_columns: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    row_drops: list[RowChange] = field(default_factory=list)
    lost_records: list[str] = field(default_factory=list)
    added_records: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)  # tables without comparable counts

    @property
    def lost_rows(self) -> bool:
        return False  # estimates never prove row loss; exact counts are needed

    @property
    def row_evidence_complete(self) -> bool:
        return False  # the bundle holds estimates only

    def loss_summary(self) -> str:
        parts = []
        if self.lost_tables:
            parts.append(f"tables gone: {', '.join(self.lost_tables)}")
        if self.lost_columns:
            parts.append(f"columns gone: {', '.join(self.lost_columns)}")
        return "; ".join(parts)

    def row_gap_summary(self) -> str:
        return "the bundles hold row estimates, not exact counts"

    def findings(self) -> list[Finding]:
        out = []
        if self.lost_tables:
            out.append(Finding(
                id="data.tables_dropped_since_baseline", severity="CRITICAL", dimension="data",
                title=f"{len(self.lost_tables)} table(s) present in the baseline are gone",
                subjects=self.lost_tables,
                evidence=[f"baseline has {t}; current pg_class does not" for t in self.lost_tables],
                explanation="Compared with the baseline bundle, these tables were dropped.",
                recommendation="Restore them from a point-in-time copy (selective repair)."))
        if self.lost_columns:
            out.append(Finding(
                id="data.columns_dropped_since_baseline", severity="HIGH", dimension="data",
                title=f"{len(self.lost_columns)} column(s) present in the baseline are gone",
                subjects=self.lost_columns,
                evidence=[f"baseline has column {c}; current does not" for c in self.lost_columns],
                explanation="Their values are lost unless restored.",
                recommendation="Restore the values from a point-in-time copy."))
        if self.row_drops:
            out.append(Finding(
                id="data.row_estimates_dropped", severity="HIGH", dimension="data",
                title=f"Row estimates fell in {len(self.row_drops)} table(s) since the baseline",
                subjects=[r.table for r in self.row_drops],
                evidence=[f"{r.table}: ~{r.before} → ~{r.after} rows (pg_class.reltuples)"
                          for r in self.row_drops],
                explanation="Estimates, not counts: a large fall is a strong signal of deleted "
                            "or truncated rows.",
                recommendation="Count exactly on both sides before concluding."))
        if self.lost_records:
            out.append(Finding(
                id="migration.records_removed_since_baseline", severity="HIGH",
                dimension="migration",
                title=f"{len(self.lost_records)} migration record(s) removed since the baseline",
                subjects=self.lost_records,
                evidence=[f"baseline django_migrations has {r}; current does not"
                          for r in self.lost_records],
                explanation="These rows were deleted from django_migrations after the baseline.",
                recommendation="Re-record them once their schema is verified."))
        return out


def _rels(b: EvidenceBundle) -> dict[str, Relation]:
    return {r.qualified: r for r in (b.inventory.relations if b.inventory else [])}


def diff_bundles(before: EvidenceBundle, after: EvidenceBundle) -> BundleDiff:
    d = BundleDiff()
    a, b = _rels(before), _rels(after)
    d.lost_tables = sorted(k for k, r in a.items() if k not in b and r.kind in STORED)
    d.added_tables = sorted(k for k, r in b.items() if k not in a and r.kind in STORED)
    for k in sorted(set(a) & set(b)):
        ca = {c.name for c in a[k].columns}
        cb = {c.name for c in b[k].columns}
        d.lost_columns += [f"{k}.{c}" for c in sorted(ca - cb)]
        d.added_columns += [f"{k}.{c}" for c in sorted(cb - ca)]
        ra, rb = a[k].row_estimate, b[k].row_estimate
        if ra is None or rb is None:
            if a[k].kind in STORED:
                d.uncounted.append(k)
            continue
        if ra >= 10 and rb < ra * 0.5:
            d.row_drops.append(RowChange(k, ra, rb, "estimate"))
    rec_a = _records(before)
    rec_b = _records(after)
    d.lost_records = sorted(rec_a - rec_b)
    d.added_records = sorted(rec_b - rec_a)
    return d


def _records(b: EvidenceBundle) -> set[str]:
    if b.migrations is None:
        return set()
    return {f"{r.app}.{r.name}" for r in b.migrations.django.records}
