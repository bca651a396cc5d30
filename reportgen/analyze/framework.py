"""The migration framework a bundle's codebase belongs to: its words, its tracking table and
the records it holds, in one form the reconciliation compares whatever the framework.

Django records every applied migration as a row of django_migrations. Alembic records only
the heads it has reached, one row of alembic_version per head: every revision at or below a
recorded head counts as applied (that is what Alembic itself computes), and a recorded head
with no revision file is a record nothing can be compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
    fake: str  # what records a migration without running it (short, as a sentence says it)

    def label(self, key: Key) -> str:
        return key[1] if self.key == "alembic" else f"{key[0]}.{key[1]}"

    def units(self, n: int) -> str:
        return f"{n} {self.unit}" + ("" if n == 1 else "s")


DJANGO = Framework("django", "Django", "django_migrations", "migration", "migrate",
                   "showmigrations", "--fake")
ALEMBIC = Framework("alembic", "Alembic", "alembic_version", "revision",
                    "alembic upgrade head", "alembic current", "alembic stamp")
GOLANG = Framework("golang-migrate", "golang-migrate", "schema_migrations", "migration",
                   "migrate up", "migrate version", "migrate force")
PRISMA = Framework("prisma", "Prisma", "_prisma_migrations", "migration",
                   "prisma migrate deploy", "prisma migrate status",
                   "prisma migrate resolve --applied")
SQITCH = Framework("sqitch", "Sqitch", "sqitch.changes", "change", "sqitch deploy",
                   "sqitch status", "sqitch deploy --log-only")
FLYWAY = Framework("flyway", "Flyway", "flyway_schema_history", "migration", "flyway migrate",
                   "flyway info", "flyway baseline")
FRAMEWORKS = {f.key: f for f in (DJANGO, ALEMBIC, GOLANG, FLYWAY, PRISMA, SQITCH)}


def framework_of(bundle: EvidenceBundle) -> Framework:
    cb = bundle.codebase
    return FRAMEWORKS[cb.framework] if cb is not None else DJANGO


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
    #: Migrations whose run the table records as failed (Prisma) or dirty (golang-migrate):
    #: started, not finished. Each is unrecorded; its effects say what happened.
    failed: list[str] = field(default_factory=list)
    #: Applied migrations whose file no longer has the checksum the tool stored (edited
    #: after it ran).
    edited: list[str] = field(default_factory=list)
    #: What the table holds, as read (golang-migrate: its version; Prisma: its rows).
    summary: TrackerSummary | None = None
    #: The schema the framework's tables are in, when not the tracker's own (sqitch keeps
    #: its registry in a schema of its own).
    tables_schema: str | None = None


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
    if fw in (GOLANG, FLYWAY, PRISMA, SQITCH):
        return _sql_tracked(bundle, graph or bundle, fw)
    table = tracker_table(bundle)
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


def tracker_table(bundle: EvidenceBundle, tool: str = "alembic") -> TrackerSummary | None:
    """The tracking table the tool reads: the one in public, else the first found (a
    project that keeps it elsewhere configures its schema; the first is named)."""
    m = bundle.migrations
    found = [t for t in (m.others if m is not None else []) if t.tool == tool]
    return next((t for t in found if t.schema_name == "public"), found[0] if found else None)


def _sql_tracked(bundle: EvidenceBundle, graph: EvidenceBundle, fw: Framework) -> Tracked:
    """golang-migrate keeps one row, the version reached: every file at or below it is
    applied, the version itself in doubt when dirty. Prisma keeps a row per migration:
    finished and not rolled back is applied; neither finished nor rolled back is failed.
    Flyway keeps a row per migration run (success or not) and a BASELINE row for the
    versions at or below it; sqitch a row per deployed change of each project."""
    table = tracker_table(bundle, fw.key)
    schema = None
    if fw is SQITCH:
        ident = bundle.identity
        schema = (ident.current_schema if ident and ident.current_schema else "public")
    if table is None:
        return Tracked(fw, table_present=False, tables_schema=schema)
    out = Tracked(fw, table_present=True, readable=table.readable, error=table.error,
                  schema_name=table.schema_name, summary=table, tables_schema=schema)
    if not table.readable:
        return out
    cb = graph.codebase
    assert cb is not None
    files = {m.name: m for m in cb.migrations}

    def record(name: str, at: datetime | None = None) -> MigrationRecord:
        return MigrationRecord(app=fw.key, name=name, applied=at)

    if fw is GOLANG:
        if not table.entries:
            return out
        cur = table.entries[0]
        version = int(cur.name)
        out.versions = [cur.name]
        out.records = [record(n) for n in files
                       if int(n) < version or (int(n) == version and cur.state == "applied")]
        if cur.name not in files and version >= 0:
            out.unknown = [cur.name]
        if cur.state == "dirty" and cur.name in files:
            out.failed = [cur.name]
        return out
    if fw is SQITCH:  # one registry serves every project: this plan's rows only
        entries = [e for e in table.entries if e.project == cb.project]
        out.records = [record(e.name, e.at) for e in entries if e.name in files]
        out.unknown = [e.name for e in entries if e.name not in files]
        out.versions = [r.name for r in out.records]
        return out
    if fw is FLYWAY:  # a BASELINE row stands for every version at or below it
        base = max((_parts(e.name) for e in table.entries
                    if e.baseline and e.state == "applied"), default=None)
        if base is not None:
            out.records = [record(n) for n in files if _parts(n) <= base]
        table_entries = [e for e in table.entries if not e.baseline]
    else:
        table_entries = table.entries
    for e in table_entries:
        if e.name not in files:
            if e.state == "applied":
                out.unknown.append(e.name)
            continue
        if e.state == "applied":
            if e.name not in {r.name for r in out.records}:
                out.records.append(record(e.name, e.at))
            if e.checksum and not _same_checksum(files[e.name].checksum, e.checksum):
                out.edited.append(e.name)
        elif e.state == "failed":
            out.failed.append(e.name)
    applied = {r.name for r in out.records}
    out.failed = [n for n in dict.fromkeys(out.failed) if n not in applied]
    out.versions = sorted(applied)
    return out


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _same_checksum(file_sum: str | None, stored: str) -> bool:
    """The file's checksum as its tool stored it (Prisma: sha-256 of migration.sql as
    written; Prisma also accepts the file with its line endings turned the other way, so a
    CRLF checkout of an LF file shows as edited here. Flyway's ignores line endings.)"""
    return file_sum is None or stored.lower() == file_sum.lower()
