"""What the templates show, derived once from the bundle and the assessment (no I/O)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from reportgen.analyze.model import (
    SHOWN,
    VERDICTS,
    WORDS,
    Assessment,
    Finding,
    MigrationStatus,
    RecoveryOption,
    TenantRow,
)
from reportgen.bundle import EvidenceBundle, Relation
from reportgen.options import RenderOptions as RenderOptions  # re-exported
from reportgen.render.environment import Md, code, md

DATA_LOSS_LABELS = {
    "confirmed": "DATA LOSS CONFIRMED", "suspected": "DATA LOSS SUSPECTED",
    "none_detected": "NONE DETECTED (compared with baseline)",
    "unknown": "UNKNOWN — tables intact, row-level loss not excluded",
}
PROVIDERS = {
    "neon": "Neon (serverless PostgreSQL)", "rds": "AWS RDS for PostgreSQL",
    "aurora": "Amazon Aurora PostgreSQL", "cloudsql": "Google Cloud SQL",
    "azure": "Azure Database for PostgreSQL", "supabase": "Supabase",
    "heroku": "Heroku Postgres", "crunchybridge": "Crunchy Bridge",
    "self-hosted": "Self-hosted PostgreSQL", "unknown": "Unknown",
}
CLASSES = [
    ("applied", "Applied, schema verified", "Recorded, and every effect is in the database."),
    ("applied_schema_missing", "Recorded, schema MISSING",
     "Django thinks it is applied; tables/columns are gone (loss or drift)."),
    ("schema_present_unrecorded", "Ran, record missing",
     "It ran (its own schema, or what is built on it, is present) and its schema is in "
     "place: safe to record."),
    ("schema_lost_unrecorded", "Ran, then schema and record LOST",
     "It ran (what is built on it is present), then its schema and its record went: "
     "lost schema, never pending."),
    ("unverifiable_unrecorded", "Unrecorded, not verifiable",
     "RunPython/RunSQL, or only removals and undone effects: whether it ran cannot be "
     "read from the schema."),
    ("partially_applied", "Partially applied", "Some effects present, some missing."),
    ("pending", "Pending", "Never ran: effects absent, nothing built on it ran, and no record "
     "was removed since it could have been written (normal before a deploy)."),
    ("pending_or_lost", "Pending, or lost",
     "Effects absent and nothing built on it ran: not applied yet, or applied and lost with "
     "its record; the evidence cannot tell."),
    ("ghost_record", "Record without file", "Recorded, but no such migration file exists."),
    ("recorded_not_in_scan", "Recorded, app not scanned",
     "The app's files are not in the scanned codebase (installed package?)."),
]
FAKE_TEXT = {"safe": "✓ safe", "blocked": "✗ waits for a dependency",
             "unsafe": "✗ unsafe", "unverifiable": "? verify first", "not_applicable": "—"}


def _rows(r: Relation) -> int | None:
    """count(*) where the relation was counted, else the estimate (None: never analyzed)."""
    return r.exact_rows if r.exact_rows is not None else r.row_estimate


class View:
    #: Up to this many relations Appendix D lists them all; beyond, the inventory listings
    #: (inventory.csv/.json) carry them and the report's length stays bounded.
    appendix_table_limit = 300
    #: Rows of each summary table (applications, schemas); the listings hold the rest.
    summary_rows = 30

    def __init__(self, b: EvidenceBundle, a: Assessment) -> None:
        self.b, self.a = b, a
        self._app_of = a.relation_apps
        ident = b.identity
        db = ident.current_database if ident else (b.target.dbname or "?")
        host = b.target.host or b.target.hostaddr or "local socket"
        self.provider_label = PROVIDERS.get(ident.provider.name, ident.provider.name) \
            if ident else "unknown"
        if ident and ident.provider.confirmed_by_server is False:
            self.provider_label += " — by host name only, not confirmed by the server"
        self.database_line = f"{db} on {host}" + (f" — {self.provider_label}" if ident else "")
        self.data_loss_label = DATA_LOSS_LABELS[a.data_loss]
        if a.data_loss == "unknown" and a.status.startswith("TABLES NOT DETERMINED"):
            self.data_loss_label = "UNKNOWN — tables not determined, row-level loss not excluded"
        self.recommended: RecoveryOption | None = next(
            (o for o in a.recovery_options if o.recommended), None)
        self.by_dimension: dict[str, list[Finding]] = defaultdict(list)
        for f in a.findings:
            self.by_dimension[f.dimension].append(f)
        self.risk_basis = {d: ", ".join(f.id for f in self.by_dimension[d]
                                        if f.severity == a.risks[d]) or "no finding"
                           for d in a.risks}
        self.has_responder_timeline = any(e.source.startswith("timeline file")
                                          for e in a.timeline)
        self.code_apps = sorted({m.app for m in b.codebase.migrations}) if b.codebase else []
        #: Alembic's project: its revisions, recorded by heads in alembic_version.
        self.framework_key = b.codebase.framework if b.codebase is not None else "django"
        self.alembic = self.framework_key == "alembic"
        self.framework = {"django": "Django", "alembic": "Alembic", "prisma": "Prisma",
                          "golang-migrate": "golang-migrate", "flyway": "Flyway",
                          "sqitch": "Sqitch"}[self.framework_key]
        #: The tracking table of a framework other than Django, as read.
        self.tracker_table = next(
            (t for t in sorted((t for t in (b.migrations.others if b.migrations else [])
                                if t.tool == self.framework_key),
                               key=lambda t: t.schema_name != "public")), None) \
            if self.framework_key != "django" else None
        self.tracker_line = self._tracker_line(a)
        self._inventory(b, a)
        self._records(b, a)
        self._discrepancies(a)
        self._tenants(a)
        self.signals = self._signals(b, a)
        self.summary = self._summary()
        self.technical_notes = self._notes()

    def _tenants(self, a: Assessment) -> None:
        """The tenant matrix: counts per verdict, the worst tenants (the whole matrix is in
        tenants.csv/.json, attached to the PDF)."""
        m = a.tenants
        self.tenant_counts: list[tuple[str, int, str]] = []
        self.tenant_rows: list[TenantRow] = []
        self.tenant_more = 0
        if m is None:
            return
        counts = m.counts()
        order = list(VERDICTS)
        self.tenant_counts = [(WORDS[v], counts[v], VERDICTS[v]) for v in order if v in counts]
        rows = sorted(m.rows, key=lambda r: (order.index(r.verdict), r.schema_name.encode()))
        shown = [r for r in rows if r.verdict not in ("ok", "not_judged")][:SHOWN]
        if not shown:
            shown = rows[:min(SHOWN, 10)]
        self.tenant_rows = shown
        self.tenant_more = len(m.rows) - len(shown)
        self.tenant_words = WORDS

    @staticmethod
    def rows(r: Relation) -> Md:
        """A relation's rows: count(*) where it was counted, else "~" and the estimate."""
        if r.exact_rows is not None:
            return Md(f"{r.exact_rows:,}")
        return Md("never analyzed" if r.row_estimate is None else f"~{r.row_estimate:,}")

    def app_of(self, r: Relation) -> str:
        return self._app_of.get(r.qualified, "?")

    @property
    def app_by_relation(self) -> dict[str, str]:
        """Each relation's application, by qualified name (as the report attributes it)."""
        return self._app_of

    @staticmethod
    def subjects(f: Finding, limit: int = 8) -> str:
        s = f.subjects[:limit]
        return ", ".join(s) + (f" and {len(f.subjects) - limit} more" if len(f.subjects) > limit
                               else "")

    def _inventory(self, b: EvidenceBundle, a: Assessment) -> None:
        inv = b.inventory
        self.app_rows: list[dict[str, Any]] = []
        self.schema_rows: list[Any] = []
        self.schema_more_hidden = 0
        self.largest: list[Relation] = []
        self.locked: list[Relation] = []
        self.inventory_line = Md("")
        self.rows_legend = Md("")
        self.schema_line = Md("")
        if inv is None:
            return
        kinds = Counter(r.kind for r in inv.relations)
        schemas = sorted({r.schema_name for r in inv.relations})
        parts = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items()))
        self.inventory_line = Md(f"**{len(inv.relations)} relations** in {len(schemas)} "
                               f"schema(s) ({', '.join(code(s) for s in schemas)}): {parts}. "
                               "Counted from pg_catalog.pg_class.")
        rows_by_app: dict[str, int | None] = {}
        estimated_apps: set[str] = set()
        for r in inv.relations:
            app = self.app_of(r)
            if r.kind in ("table", "partitioned table", "materialized view"):
                prev = rows_by_app.get(app, 0)
                n = _rows(r)
                rows_by_app[app] = None if prev is None or n is None else prev + n
                if r.exact_rows is None:
                    estimated_apps.add(app)
        for s in a.apps:
            if s.tables_present == 0 and s.tables_expected is None:
                continue
            rows = rows_by_app.get(s.app, 0)
            self.app_rows.append(dict(
                name=s.app, present=s.tables_present,
                expected="—" if s.tables_expected is None else s.tables_expected,
                missing=len(s.tables_missing) if s.tables_expected is not None else "—",
                rows=Md("some never analyzed" if rows is None else
                        ("~" if s.app in estimated_apps else "") + f"{rows:,}"),
                source=s.source))
        if len(self.app_rows) > self.summary_rows:  # those with missing tables, then the largest
            self.app_rows.sort(key=lambda r: (r["missing"] in (0, "—"), -r["present"],
                                              r["name"]))
        counted = any(r.exact_rows is not None for r in inv.relations)
        self.rows_legend = Md(
            "Rows: count(*) in this snapshot." if not estimated_apps else
            "Rows: count(*) in this snapshot where counted; ~ marks an estimate "
            "(pg_class.reltuples, as of the last ANALYZE)." if counted else
            "Rows are estimates (~: pg_class.reltuples, as of the last ANALYZE); "
            "`--exact-counts` counts them.")
        stored = [r for r in inv.relations if r.kind != "view"]
        self.largest = sorted(stored, key=lambda r: (-(_rows(r) or 0),
                                                     -(r.total_bytes or 0), r.qualified))[:15]
        self.locked = [r for r in inv.relations if r.locked_by][:self.summary_rows]
        # Schemas with a hidden relation or no USAGE first, then the largest.
        self.schema_rows = sorted(inv.schema_counts, key=lambda c: (
            c.information_schema >= c.pg_class and c.usage, -c.pg_class, c.schema_name))
        self.schema_more_hidden = sum(1 for c in self.schema_rows[self.summary_rows:]
                                      if c.information_schema < c.pg_class or not c.usage)
        missing = sum(len(s.tables_missing) for s in a.apps)
        expected = sum(s.tables_expected or 0 for s in a.apps)
        if b.codebase is not None:
            unchecked = sorted({s.app for s in a.migrations
                                if s.state == "recorded_not_in_scan"})
            self.schema_line = Md(f"{expected - missing} of {expected} tables created by "
                                f"migrations that ran or may have run exist; {missing} missing."
                                + (f" Not checked (their migration files were not read): "
                                   f"{', '.join(md(x) for x in unchecked)}." if unchecked
                                   else "")
                                + (f" That is the shared schema {code(a.tenants.public_schema)}"
                                   f"; {len(a.tenants.rows)} tenant schema(s) are judged one "
                                   "by one in the tenant matrix (section 5)."
                                   if a.tenants is not None else ""))

    def _tracker_line(self, a: Assessment) -> Md | None:
        """Section 4's line for golang-migrate and Prisma: what the table holds."""
        t = self.tracker_table
        if t is None or self.framework_key not in ("golang-migrate", "flyway", "prisma",
                                                   "sqitch") \
                or not t.readable:
            return None
        where = f"{code(t.table)} in schema {code(t.schema_name)}"
        recorded = sum(1 for s in a.migrations if s.recorded)
        if self.framework_key == "golang-migrate":
            cur = t.entries[0] if t.entries else None
            held = (f"version **{md(cur.name)}**" + (" — **dirty**" if cur.state == "dirty"
                                                     else "") if cur else "**no row**")
            return Md(f"{where}: {held}. golang-migrate counts every migration at or below "
                      f"it as applied (a dirty one in doubt): **{recorded} of "
                      f"{len(self.b.codebase.migrations) if self.b.codebase else 0} "
                      "migrations**.")
        if self.framework_key == "sqitch":
            project = self.b.codebase.project if self.b.codebase else None
            mine = [e for e in t.entries if e.project == project]
            return Md(f"sqitch's registry, {where}: **{len(mine)} change(s) of project "
                      f"{code(project or '?')} deployed** ({len(t.entries)} rows in all): "
                      f"**{recorded} of "
                      f"{len(self.b.codebase.migrations) if self.b.codebase else 0} "
                      "changes** in the plan recorded.")
        states = Counter(e.state for e in t.entries)
        if self.framework_key == "flyway":
            base = [e.name for e in t.entries if e.baseline]
            return Md(f"{where}: **{t.rows} rows** — {states['applied']} successful, "
                      f"{states['failed']} failed"
                      + (f", baseline at {md(base[-1])}" if base else "")
                      + f": **{recorded} of "
                      f"{len(self.b.codebase.migrations) if self.b.codebase else 0} "
                      "migrations** recorded as applied.")
        return Md(f"{where}: **{len(t.entries)} rows** — {states['applied']} applied, "
                  f"{states['failed']} failed, {states['rolled_back']} rolled back: "
                  f"**{recorded} of "
                  f"{len(self.b.codebase.migrations) if self.b.codebase else 0} "
                  "migrations** recorded as applied.")

    def _words(self, text: str) -> str:
        """A sentence in the project's framework's words."""
        if self.framework_key == "django":
            return text
        mark = {"alembic": "Stamp?", "golang-migrate": "Force?", "prisma": "Resolve?",
                "sqitch": "Log?", "flyway": "Repair?"}
        out = (text.replace("Django thinks", f"{self.framework} counts")
               .replace("(Fake? column)", f"({mark[self.framework_key]} column)")
               .replace("cannot be read from the schema.", "cannot be read from the schema "
                        "(one whose SQL is empty is safe to record either way)."))
        if self.alembic:
            return out.replace("RunPython/RunSQL", "SQL offline mode could not write or the "
                               "grammar cannot turn into objects")
        return out.replace("RunPython/RunSQL", "SQL the grammar cannot turn into objects")

    def _records(self, b: EvidenceBundle, a: Assessment) -> None:
        self.record_rows: list[dict[str, Any]] = []
        recs = b.migrations.django.records if b.migrations else []
        by_app: dict[str, list[Any]] = defaultdict(list)
        for r in recs:
            by_app[r.app].append(r)
        status_by_app: dict[str, list[MigrationStatus]] = defaultdict(list)
        for s in a.migrations:
            status_by_app[s.app].append(s)
        for app in sorted(set(by_app) | set(self.code_apps)):
            rs = by_app.get(app, [])
            latest = max(rs, key=lambda r: (r.applied is not None, r.applied), default=None)
            in_code = [s for s in status_by_app.get(app, []) if s.in_code]
            self.record_rows.append(dict(
                app=app, records=len(rs),
                in_code=len(in_code) if app in self.code_apps else "not scanned",
                unrecorded=sum(1 for s in in_code if not s.recorded)
                if app in self.code_apps else "—",
                latest=(f"{latest.name} ({latest.applied:%Y-%m-%d %H:%M} UTC)"
                        if latest and latest.applied else "none")))

    def _discrepancies(self, a: Assessment) -> None:
        counts: Counter[str] = Counter(s.state for s in a.migrations)
        fakes: Counter[str] = Counter(s.fake for s in a.migrations
                                      if s.state == "schema_present_unrecorded")
        self.class_rows = [dict(label=label, count=counts[k], meaning=self._words(meaning))
                           for k, label, meaning in CLASSES if counts[k]]
        for row in self.class_rows:  # the same numbers as the recovery option's
            if row["label"] == "Ran, record missing" and fakes["blocked"]:
                row["meaning"] = self._words(
                    f"It ran and its schema is in place: {fakes['safe']} safe to record; "
                    f"{fakes['blocked']} wait for a dependency that cannot be recorded "
                    "(Fake? column).")
        self.discrepancy_apps = []
        by_app: dict[str, list[MigrationStatus]] = defaultdict(list)
        for s in a.migrations:
            if s.in_code or s.state == "ghost_record":
                by_app[s.app].append(s)
        for app in sorted(by_app):
            ms = by_app[app]
            if all(s.state == "applied" for s in ms):
                continue
            rows = []
            for s in ms:
                if s.state == "applied":
                    check = "all effects present"
                elif s.missing:
                    check = "missing: " + ", ".join(s.missing[:4]) + (
                        f" (+{len(s.missing) - 4})" if len(s.missing) > 4 else "")
                elif s.present:
                    check = f"{len(s.present)} effect(s) present"
                else:
                    check = "no schema effect"
                detail = "; ".join(x for x in (s.basis, ", ".join(s.opaque)) if x)
                rows.append(dict(
                    name=s.name,
                    recorded_text=(f"yes, {s.applied_at:%Y-%m-%d %H:%M} UTC" if s.recorded and
                                   s.applied_at else ("yes" if s.recorded else "NO")),
                    check_text=check, fake_text=FAKE_TEXT[s.fake], detail=detail))
            self.discrepancy_apps.append(dict(name=app, migrations=rows))
        applied_ok = sorted(app for app in by_app if all(s.state == "applied"
                                                         for s in by_app[app]))
        self.apps_all_applied = applied_ok

    @staticmethod
    def _signals(b: EvidenceBundle, a: Assessment) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        sig = b.signals
        if sig is not None and sig.database is not None:
            d = sig.database
            since = f" since {d.stats_reset:%Y-%m-%d %H:%M} UTC" if d.stats_reset else \
                " since the statistics were created"
            out.append({"source": "pg_stat_database",
                        "text": f"{d.tup_deleted:,} rows deleted, {d.tup_inserted:,} inserted, "
                                f"{d.xact_rollback:,} transactions rolled back{since}"})
        if sig is not None:
            if sig.statements_available:
                text = "; ".join(f"{s.kind} × {s.calls}: {s.query[:80]}"
                                 for s in sig.statements[:8]) or "no destructive statement"
            else:
                text = f"not available: {sig.statements_note}"
            out.append({"source": "pg_stat_statements", "text": text})
        if b.server_log is not None:
            log = b.server_log
            kinds = Counter(e.kind for e in log.events)
            text = ", ".join(f"{k} × {n}" for k, n in sorted(kinds.items())) or "no DDL or " \
                "destructive statement"
            out.append({"source": "server log",
                        "text": f"{text} in {log.lines_read:,} lines ({'; '.join(log.files)})"})
        if b.inventory is not None:
            emptied = [x for f in a.findings if f.id in ("data.tables_truncated",
                                                          "data.tables_emptied")
                       for x in f.subjects]
            out.append({"source": "pg_stat_all_tables",
                        "text": ("tables with rows inserted and none live: " + ", ".join(
                            emptied[:10])) if emptied else "no table emptied since the "
                        "statistics were reset"})
        return out

    def _summary(self) -> list[Md]:
        a, b = self.a, self.b
        out = []
        if b.inventory is not None:
            tables = sum(1 for r in b.inventory.relations if r.kind in ("table",
                                                                       "partitioned table"))
            out.append(Md(f"**{tables} tables** present (pg_catalog), "
                          f"{len(b.inventory.relations)} relations in all."))
            if self.schema_line:
                out.append(self.schema_line)
        for f in a.findings:
            if f.severity in ("HIGH", "CRITICAL"):
                out.append(Md(f"**{f.severity}**: {md(f.title)}."))
        out.append(Md(f"Data loss: **{self.data_loss_label}** ({md(a.data_loss_explanation)})"))
        return out

    def _notes(self) -> list[Md]:
        """Technical notes: Markdown, every value from the evidence through code() or md()."""
        notes: list[str] = []
        for d in self.a.dangling_references:
            exp = code(d.expected_table)
            sim = (" The model that exists under that name is " + ", ".join(
                md(s) for s in d.similar) + ".") if d.similar else ""
            notes.append(f"**Why {exp} does not exist.** {code(d.target)} is referenced by "
                         f"{code(d.migration)} (field "
                         f"{code(d.field)}), but no migration of app "
                         f"{code(d.target.split('.')[0])} creates it, and pg_class has no "
                         f"{exp}.{sim}")
        dj = self.b.migrations.django if self.b.migrations and not self.alembic else None
        if dj and dj.table_present and self.b.inventory:
            rel = next((r for r in self.b.inventory.relations if r.name == "django_migrations"
                        and r.schema_name == dj.schema_name), None)
            if rel:
                cols = ", ".join(f"{c.name} {c.type}" for c in rel.columns)
                notes.append(f"**django_migrations structure** (from pg_attribute): {md(cols)}. "
                             "A row means 'applied'; Django has no failed state.")
        notes.append("**How the evidence was collected.** One `BEGIN ISOLATION LEVEL REPEATABLE "
                     "READ READ ONLY` transaction (one consistent snapshot), catalog queries "
                     "only, `SET LOCAL` timeouts, no prepared statements, then ROLLBACK. "
                     "reportgen cannot change the database it inspects.")
        inv = self.b.inventory
        if inv is not None and any(r.exact_rows is None for r in inv.relations
                                   if r.kind != "view"):
            notes.append("**Row estimates** (marked ~) come from pg_class.reltuples (updated "
                         "by ANALYZE and VACUUM); 'never analyzed' means unknown, not zero.")
        notes.append("**Counting tables.** information_schema lists only what the role holds "
                     "privileges on; this report counts from pg_catalog and shows both counts "
                     "per schema.")
        if self.alembic and any(s.fake == "unverifiable" for s in self.a.migrations):
            notes.append("**Unverifiable revisions.** A revision whose SQL Alembic's offline "
                         "mode cannot write (its upgrade() inspects the database) or whose "
                         "statements the grammar cannot turn into objects is never called safe "
                         "to stamp on its own: only what a later revision built on it shows "
                         "it ran.")
        elif any(s.fake == "unverifiable" for s in self.a.migrations):
            notes.append("**Data migrations.** Migrations with RunPython/RunSQL are never "
                         "called safe to fake: whether their data changes ran cannot be read "
                         "from the schema. Check their effect on rows, then run or fake them.")
        return [Md(n) for n in notes]
