"""Compare two bundles (baseline → current): what was dropped, added or shrank."""

from __future__ import annotations

from dataclasses import dataclass, field

from reportgen.analyze.model import Changes, Finding, RowDelta
from reportgen.bundle import ColumnName, EvidenceBundle, Relation, TableName

#: Migration trackers: their rows are records, compared as such, never as data rows.
TRACKER_TABLES = ("django_migrations", "alembic_version", "flyway_schema_history",
                  "databasechangelog", "databasechangeloglock", "schema_migrations",
                  "ar_internal_metadata", "_prisma_migrations")

#: Relations whose rows are data: a view's rows are its query's, a materialized view's are
#: derived (REFRESH rebuilds them), a foreign table's live elsewhere.
STORED = ("table", "partitioned table")
DERIVED = ("view", "materialized view", "foreign table")
#: A table "churns by design" when, before the incident (the baseline's own counters), it
#: had deleted at least this share of the rows inserted into it: sessions expire, queues
#: drain. Rows such a table loses are listed, never called loss or restored by default.
CHURN_SHARE = 0.25


@dataclass
class RowChange:
    table: str
    before: int
    after: int
    basis: str  # "exact" (count(*) on both sides) or "estimate" (pg_class.reltuples)
    ref: TableName | None = None  # the table, schema and name apart
    churn: str | None = None  # why the table removes rows by design (None: it does not)

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def share(self) -> float:
        return (self.before - self.after) / self.before if self.before else 0.0


@dataclass
class BundleDiff:
    lost_tables: list[str] = field(default_factory=list)
    lost_refs: list[TableName] = field(default_factory=list)  # the same, schema and name apart
    added_tables: list[str] = field(default_factory=list)
    lost_columns: list[str] = field(default_factory=list)
    lost_column_refs: list[ColumnName] = field(default_factory=list)  # the same, apart
    added_columns: list[str] = field(default_factory=list)
    row_drops: list[RowChange] = field(default_factory=list)
    row_gains: list[RowChange] = field(default_factory=list)
    exact_compared: int = 0
    lost_fks: list[str] = field(default_factory=list)
    added_fks: list[str] = field(default_factory=list)
    lost_indexes: list[str] = field(default_factory=list)
    added_indexes: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (before, now): same oid
    lost_views: list[tuple[str, str]] = field(default_factory=list)  # (qualified, kind)
    added_views: list[tuple[str, str]] = field(default_factory=list)
    lost_records: list[str] = field(default_factory=list)
    added_records: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)  # tables without comparable counts

    @property
    def exact_drops(self) -> list[RowChange]:
        """Rows gone, counted on both sides, from tables that do not churn by design."""
        return [r for r in self.row_drops if r.basis == "exact" and r.churn is None]

    @property
    def churn_drops(self) -> list[RowChange]:
        return [r for r in self.row_drops if r.churn is not None]

    @property
    def lost_rows(self) -> bool:
        return bool(self.exact_drops)  # estimates never prove row loss; exact counts do

    @property
    def row_evidence_complete(self) -> bool:
        return not self.uncounted

    def loss_summary(self) -> str:
        parts = []
        if self.lost_tables:
            parts.append(f"tables gone: {', '.join(self.lost_tables)}")
        if self.lost_columns:
            parts.append(f"columns gone: {', '.join(self.lost_columns)}")
        if self.exact_drops:
            parts.append("rows gone (exact counts): " + ", ".join(
                f"{r.table} {r.before} → {r.after} ({r.delta:+d})" for r in self.exact_drops))
        return "; ".join(parts)

    def row_gap_summary(self) -> str:
        n = len(self.uncounted)
        return (f"{n} table(s) lack an exact count on one side; collect both bundles with "
                "--exact-counts")

    def as_model(self) -> Changes:
        def rows(rs: list[RowChange]) -> list[RowDelta]:
            return [RowDelta(table=r.table, before=r.before, after=r.after,
                             basis=r.basis, churn=r.churn) for r in rs]
        return Changes(tables_dropped=self.lost_tables, tables_added=self.added_tables,
                       columns_dropped=self.lost_columns, columns_added=self.added_columns,
                       rows_fell=rows(self.row_drops), rows_grew=rows(self.row_gains),
                       records_removed=self.lost_records, records_added=self.added_records,
                       foreign_keys_dropped=self.lost_fks, indexes_dropped=self.lost_indexes,
                       views_dropped=[v for v, _ in self.lost_views],
                       exact_compared=self.exact_compared, not_counted=len(self.uncounted))

    def lines(self) -> list[str]:
        """The diff as terminal lines: - gone, + new, ~ changed."""
        return ([f"- table {t}" for t in self.lost_tables]
                + [f"~ table {a} renamed to {b}" for a, b in self.renamed]
                + [f"+ table {t}" for t in self.added_tables]
                + [f"- column {c}" for c in self.lost_columns]
                + [f"+ column {c}" for c in self.added_columns]
                + [f"- foreign key {k}" for k in self.lost_fks]
                + [f"+ foreign key {k}" for k in self.added_fks]
                + [f"- index {i}" for i in self.lost_indexes]
                + [f"+ index {i}" for i in self.added_indexes]
                + [f"- {kind} {v}" for v, kind in self.lost_views]
                + [f"+ {kind} {v}" for v, kind in self.added_views]
                + [f"~ rows {r.table}: {r.before} -> {r.after} ({r.delta:+d}, {r.basis})"
                   for r in self.row_drops + self.row_gains]
                + [f"- migration record {r}" for r in self.lost_records]
                + [f"+ migration record {r}" for r in self.added_records])

    def findings(self) -> list[Finding]:
        out = []
        if self.lost_tables:
            out.append(Finding(
                id="data.tables_dropped_since_baseline", severity="CRITICAL", dimension="data",
                title=f"{len(self.lost_tables)} table(s) present in the baseline are gone",
                subjects=self.lost_tables, tables=self.lost_refs,
                evidence=[f"baseline has {t}; current pg_class does not" for t in self.lost_tables],
                explanation="Compared with the baseline bundle, these tables were dropped.",
                recommendation="Restore them from a point-in-time copy (selective repair)."))
        if self.lost_columns:
            out.append(Finding(
                id="data.columns_dropped_since_baseline", severity="HIGH", dimension="data",
                title=f"{len(self.lost_columns)} column(s) present in the baseline are gone",
                subjects=self.lost_columns, columns=self.lost_column_refs,
                evidence=[f"baseline has column {c}; current does not" for c in self.lost_columns],
                explanation="Their values are lost unless restored.",
                recommendation="Restore the values from a point-in-time copy."))
        if self.exact_drops:
            most = max(r.share for r in self.exact_drops)
            out.append(Finding(
                id="data.rows_lost_since_baseline",
                severity="CRITICAL" if most >= 0.5 else "HIGH", dimension="data",
                title=f"Rows gone since the baseline in {len(self.exact_drops)} table(s)",
                subjects=[r.table for r in self.exact_drops],
                tables=[r.ref for r in self.exact_drops if r.ref is not None],
                evidence=[f"{r.table}: {r.before} → {r.after} rows ({r.delta:+d}, "
                          f"{r.share:.0%} of the table), count(*) in both bundles"
                          for r in self.exact_drops],
                explanation="Exact counts on both sides: these rows were deleted or truncated "
                            "after the baseline was collected, from tables that do not delete "
                            "rows in their ordinary course.",
                recommendation="Restore them from the baseline's point in time (selective "
                               "repair of these tables)."))
        if self.churn_drops:
            out.append(Finding(
                id="data.rows_removed_by_design", severity="LOW", dimension="data",
                title=f"Rows removed since the baseline from {len(self.churn_drops)} table(s) "
                      "that remove rows by design",
                subjects=[r.table for r in self.churn_drops],
                tables=[r.ref for r in self.churn_drops if r.ref is not None],
                evidence=[f"{r.table}: {r.before} → {r.after} rows ({r.delta:+d}); {r.churn}"
                          for r in self.churn_drops],
                explanation="These tables deleted rows before the incident too (expired "
                            "sessions, a drained queue): rows leaving them is their ordinary "
                            "course, not counted as loss and not restored by default.",
                recommendation="If the incident removed them rather than their own cleanup, "
                               "restore them by choice: when the row repair runs, it lists "
                               "them as optional."))
        estimated = [r for r in self.row_drops if r.basis == "estimate" and r.churn is None]
        if estimated:
            out.append(Finding(
                id="data.row_estimates_dropped", severity="HIGH", dimension="data",
                title=f"Row estimates fell in {len(estimated)} table(s) since the baseline",
                subjects=[r.table for r in estimated],
                evidence=[f"{r.table}: ~{r.before} → ~{r.after} rows (pg_class.reltuples)"
                          for r in estimated],
                explanation="Estimates, not counts: a large fall is a strong signal of deleted "
                            "or truncated rows.",
                recommendation="Count exactly on both sides (--exact-counts) before "
                               "concluding."))
        if self.renamed:
            out.append(Finding(
                id="schema.tables_renamed_since_baseline", severity="MEDIUM",
                dimension="schema",
                title=f"{len(self.renamed)} table(s) renamed since the baseline",
                subjects=[x for pair in self.renamed for x in pair],
                evidence=[f"baseline {a} is now {b}: the same table (its oid is unchanged), "
                          "not a drop" for a, b in self.renamed],
                explanation="A rename keeps the rows; what reads the old name fails. A "
                            "non-atomic migration that stopped half-way leaves tables renamed "
                            "this way.",
                recommendation="Check which migration renames them and whether it completed "
                               "(see the migration findings) before renaming anything back."))
        if self.lost_views:
            out.append(Finding(
                id="schema.views_dropped_since_baseline", severity="MEDIUM", dimension="schema",
                title=f"{len(self.lost_views)} view(s) or materialized view(s) present in the "
                      "baseline are gone",
                subjects=[v for v, _ in self.lost_views],
                evidence=[f"baseline has {kind} {v}; current pg_class does not"
                          for v, kind in self.lost_views],
                explanation="Views hold no rows of their own and a materialized view's rows "
                            "are derived from its query: no data went with them, but what "
                            "reads them fails. DROP ... CASCADE takes them with what they "
                            "depend on.",
                recommendation="Re-create them from their definitions (the code or migration "
                               "that made them, or `pg_dump --schema-only -t` of a copy from "
                               "before), then REFRESH each materialized view."))
        if self.lost_fks or self.lost_indexes:
            gone = [f"foreign key {k}" for k in self.lost_fks] + \
                [f"index {i}" for i in self.lost_indexes]
            out.append(Finding(
                id="schema.objects_dropped_since_baseline", severity="MEDIUM",
                dimension="schema",
                title=f"{len(gone)} foreign key(s)/index(es) present in the baseline are gone",
                subjects=self.lost_fks + self.lost_indexes, evidence=gone,
                explanation="Constraints or indexes were dropped (by hand, by CASCADE or by a "
                            "migration) since the baseline.",
                recommendation="Recreate them from the migration that defines them."))
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


def churns(r: Relation) -> str | None:
    """Why a table removes rows by design, from its counters at the baseline's time (None:
    they do not show it)."""
    ins, dele = r.inserted_tuples or 0, r.deleted_tuples or 0
    if dele and ins and dele >= CHURN_SHARE * ins:
        return (f"before the baseline it had deleted {dele} of {ins} rows inserted "
                "(pg_stat_all_tables): it removes rows by design")
    return None


def diff_bundles(before: EvidenceBundle, after: EvidenceBundle) -> BundleDiff:
    d = BundleDiff()
    a, b = _rels(before), _rels(after)
    renamed = _renames(before, after, a, b)
    d.renamed = sorted(renamed.items())
    d.lost_tables = sorted(k for k, r in a.items() if k not in b and r.kind in STORED
                           and k not in renamed)
    d.lost_refs = [TableName(schema_name=a[k].schema_name, name=a[k].name) for k in d.lost_tables]
    d.added_tables = sorted(k for k, r in b.items() if k not in a and r.kind in STORED
                            and k not in renamed.values())
    d.lost_views = sorted((k, r.kind) for k, r in a.items() if k not in b and r.kind in DERIVED)
    d.added_views = sorted((k, r.kind) for k, r in b.items() if k not in a and r.kind in DERIVED)
    # A renamed table is compared with itself under its new name.
    b = {**b, **{old: b[new] for old, new in renamed.items()}}
    for k in sorted(set(a) & set(b)):
        ca = {c.name for c in a[k].columns}
        cb = {c.name for c in b[k].columns}
        d.lost_columns += [f"{k}.{c}" for c in sorted(ca - cb)]
        d.lost_column_refs += [ColumnName(schema_name=a[k].schema_name, table=a[k].name,
                                          name=c) for c in sorted(ca - cb)]
        d.added_columns += [f"{k}.{c}" for c in sorted(cb - ca)]
        fa = {f.name for f in a[k].foreign_keys}
        fb = {f.name for f in b[k].foreign_keys}
        d.lost_fks += [f"{k}.{n}" for n in sorted(fa - fb)]
        d.added_fks += [f"{k}.{n}" for n in sorted(fb - fa)]
        ia, ib = set(a[k].indexes), set(b[k].indexes)
        d.lost_indexes += [f"{k}.{n}" for n in sorted(ia - ib)]
        d.added_indexes += [f"{k}.{n}" for n in sorted(ib - ia)]
        if a[k].kind not in STORED or a[k].name in TRACKER_TABLES:
            continue  # migration records are compared as records, below
        ref = TableName(schema_name=a[k].schema_name, name=a[k].name)
        ea, eb = a[k].exact_rows, b[k].exact_rows
        if ea is not None and eb is not None:
            d.exact_compared += 1
            if eb < ea:
                d.row_drops.append(RowChange(k, ea, eb, "exact", ref, churns(a[k])))
            elif eb > ea:
                d.row_gains.append(RowChange(k, ea, eb, "exact"))
            continue
        d.uncounted.append(k)
        ra, rb = a[k].row_estimate, b[k].row_estimate
        if ra is not None and ra >= 10 and (rb is None or rb < ra * 0.5):
            d.row_drops.append(RowChange(k, ra, rb or 0, "estimate", ref, churns(a[k])))
    rec_a = _records(before)
    rec_b = _records(after)
    d.lost_records = sorted(rec_a - rec_b)
    d.added_records = sorted(rec_b - rec_a)
    return d


def _renames(before: EvidenceBundle, after: EvidenceBundle, a: dict[str, Relation],
             b: dict[str, Relation]) -> dict[str, str]:
    """Tables the baseline has under one name and this bundle under another: the same oid,
    in the same cluster (system identifier), is the same table."""
    ia, ib = before.identity, after.identity
    if ia is None or ib is None or not ia.system_identifier \
            or ia.system_identifier != ib.system_identifier:
        return {}
    now = {r.oid: k for k, r in b.items() if r.oid is not None and k not in a}
    return {k: now[r.oid] for k, r in a.items()
            if k not in b and r.oid is not None and r.oid in now}


def _records(b: EvidenceBundle) -> set[str]:
    if b.migrations is None:
        return set()
    return {f"{r.app}.{r.name}" for r in b.migrations.django.records}
