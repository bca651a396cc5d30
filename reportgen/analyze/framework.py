"""The migration framework a bundle's codebase belongs to: its words, its tracking table and
the records it holds, in one form the reconciliation compares whatever the framework.

Django records every applied migration as a row of django_migrations. Alembic records only
the heads it has reached, one row of alembic_version per head: every revision at or below a
recorded head counts as applied (that is what Alembic itself computes), and a recorded head
with no revision file is a record nothing can be compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reportgen.bundle import EvidenceBundle, MigrationRecord, TrackerSummary
from reportgen.migration_graph import Key


@dataclass(frozen=True)
class Framework:
    key: str
    name: str  # as a sentence names it
    tracker: str  # the tracking table
    unit: str  # what one migration is called
    apply: str  # the command that applies what is pending
    status: str  # the command that shows what is recorded

    def label(self, key: Key) -> str:
        return key[1] if self.key == "alembic" else f"{key[0]}.{key[1]}"

    def units(self, n: int) -> str:
        return f"{n} {self.unit}" + ("" if n == 1 else "s")


DJANGO = Framework("django", "Django", "django_migrations", "migration", "migrate",
                   "showmigrations")
ALEMBIC = Framework("alembic", "Alembic", "alembic_version", "revision",
                    "alembic upgrade head", "alembic current")


def framework_of(bundle: EvidenceBundle) -> Framework:
    cb = bundle.codebase
    return ALEMBIC if cb is not None and cb.framework == "alembic" else DJANGO


@dataclass
class Tracked:
    """What the framework's tracking table says is applied."""

    framework: Framework
    table_present: bool
    readable: bool = True
    error: str | None = None
    schema_name: str | None = None
    records: list[MigrationRecord] = field(default_factory=list)
    #: Alembic: versions alembic_version holds that no revision file has.
    unknown: list[str] = field(default_factory=list)
    #: Alembic: the versions as read (the heads applied).
    versions: list[str] = field(default_factory=list)


def tracked(bundle: EvidenceBundle, graph: EvidenceBundle | None = None) -> Tracked:
    """``graph``: the bundle whose codebase gives Alembic's revision graph (default: this
    one; a baseline has its records, the current bundle the graph)."""
    fw = framework_of(graph or bundle)
    m = bundle.migrations
    if fw is DJANGO:
        dj = m.django if m is not None else None
        if dj is None:
            return Tracked(fw, table_present=False)
        return Tracked(fw, table_present=dj.table_present, readable=dj.readable,
                       error=dj.error, schema_name=dj.schema_name, records=list(dj.records))
    table = alembic_table(bundle)
    if table is None:
        return Tracked(fw, table_present=False)
    base = Tracked(fw, table_present=True, readable=table.readable, error=table.error,
                   schema_name=table.schema_name, versions=list(table.versions))
    if not table.readable:
        return base
    cb = (graph or bundle).codebase
    assert cb is not None
    downs = {m.name: [d for _, d in m.dependencies] for m in cb.migrations}
    applied: list[str] = []
    seen: set[str] = set()
    stack = [v for v in table.versions if v in downs]
    while stack:
        rev = stack.pop()
        if rev in seen:
            continue
        seen.add(rev)
        applied.append(rev)
        stack += [d for d in downs.get(rev, []) if d not in seen]
    base.records = [MigrationRecord(app="alembic", name=r, applied=None)
                    for r in sorted(applied)]
    base.unknown = [v for v in table.versions if v not in downs]
    return base


def alembic_table(bundle: EvidenceBundle) -> TrackerSummary | None:
    """The alembic_version table Alembic reads: the one in public, else the first found
    (a project that keeps it elsewhere sets version_table_schema; the first is named)."""
    m = bundle.migrations
    found = [t for t in (m.others if m is not None else []) if t.tool == "alembic"]
    return next((t for t in found if t.schema_name == "public"), found[0] if found else None)
