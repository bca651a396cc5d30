"""What every rule needs, computed once from the bundle."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reportgen.analyze.reconcile import Reconciliation, live_tables, reconcile
from reportgen.bundle import EvidenceBundle, MigrationRecord, Relation

#: Fixed table names of Django's contrib apps (their db_table never depends on the project).
DJANGO_CONTRIB_TABLES = {
    "django_migrations": "migrations (Django)", "django_content_type": "contenttypes",
    "django_admin_log": "admin", "django_session": "sessions", "django_site": "sites",
}


@dataclass
class Context:
    bundle: EvidenceBundle
    baseline: EvidenceBundle | None
    rec: Reconciliation | None
    live: dict[str, Relation] | None
    records: list[MigrationRecord]
    app_of: dict[str, str]  # qualified relation name → app label
    app_source: dict[str, str]  # app → how its tables were attributed
    apps: dict[str, list[Relation]] = field(default_factory=dict)

    @property
    def records_by_app(self) -> dict[str, list[MigrationRecord]]:
        out: dict[str, list[MigrationRecord]] = defaultdict(list)
        for r in self.records:
            out[r.app].append(r)
        return out


def build_context(bundle: EvidenceBundle, baseline: EvidenceBundle | None = None) -> Context:
    rec = reconcile(bundle)
    records = []
    if bundle.migrations and bundle.migrations.django.table_present:
        records = list(bundle.migrations.django.records)
    labels = {r.app for r in records}
    if bundle.codebase:
        labels |= {m.app for m in bundle.codebase.migrations}
    expected = rec.expected_tables if rec else {}
    app_of: dict[str, str] = {}
    app_source: dict[str, str] = {}
    apps: dict[str, list[Relation]] = defaultdict(list)
    for r in bundle.inventory.relations if bundle.inventory else []:
        if r.name in expected:
            app, how = expected[r.name], "migration files"
        elif r.name in DJANGO_CONTRIB_TABLES:
            app, how = DJANGO_CONTRIB_TABLES[r.name], "Django contrib table name"
        else:
            match = max((lab for lab in labels if r.name.startswith(lab + "_")), key=len,
                        default=None)
            if match:
                app, how = match, "app label prefix"
            elif "_" in r.name:
                app, how = r.name.split("_", 1)[0], "name prefix"
            else:
                app, how = "(no prefix)", "name prefix"
        app_of[r.qualified] = app
        app_source.setdefault(app, how)
        apps[app].append(r)
    return Context(bundle=bundle, baseline=baseline, rec=rec, live=live_tables(bundle),
                   records=records, app_of=app_of, app_source=app_source, apps=dict(apps))
