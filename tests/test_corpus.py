"""Truth on real projects: well-known third-party Django apps from PyPI, migrated by Django
itself into a real PostgreSQL, judged by Django's own commands.

The corpus is tests/incidents/project.py's: django-oscar (all its apps), django-simple-history,
django-reversion, djangorestframework's authtoken, django-celery-results, django-constance,
django-rest-knox, django-taggit, django-guardian, Wagtail and django CMS (both full of data
migrations), beside Django's contrib apps: about 440 migrations. Nothing of the apps was
written here. One migrated template database per server (the ``corpus`` fixture), copied
per case.

- a clean database: no finding above LOW, in Django mode and in static mode (pointed at the
  apps' own files), and no data-loss verdict but unknown;
- per app (the one-package apps together), records deleted with the schema intact: every
  deleted migration is offered for re-recording or named with the reason it needs a
  decision; the printed fix, run in a shell, makes `showmigrations` show them applied and
  `migrate --plan` list exactly what the report predicted;
- `migrate APP zero` run by Django for apps nothing depends on: reportgen's
  applied/unapplied lists equal `showmigrations`, and no finding above LOW names the apps;
- a table dropped / a column dropped: a finding at HIGH or above naming exactly it, and no
  other new finding.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reportgen.analyze import analyze
from reportgen.analyze.model import Assessment, level_rank
from reportgen.collect.run import collect_bundle
from tests.conftest import Database, on_one_server
from tests.incidents.project import SETTINGS, UNITS
from tests.incidents.world import World

#: A step of `tasks.py matrix`, beside the incident cells on the same corpus (the suite's
#: own ten minutes are spent elsewhere; CI runs both steps).
pytestmark = [pytest.mark.slow, pytest.mark.matrix]


@pytest.fixture(scope="module")
def app_files(corpus: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed apps' own migration packages: what the static scan is pointed at."""
    return corpus.project.app_files(tmp_path_factory.mktemp("corpus-files"))


@pytest.fixture
def copy(corpus: World):
    """Copies of the migrated template (dropped afterwards)."""
    made: list[str] = []

    def make() -> Database:
        name = corpus.clone(corpus.template, prefix="corpus")
        made.append(name)
        return Database(corpus.server, name)

    yield make
    corpus.drop(*made)


def django_view(corpus: World, db: Database) -> Assessment:
    os.environ.update({k: v for k, v in corpus.project.env(corpus.server, db.name).items()
                       if k.startswith("T_")})
    return analyze(collect_bundle(db.source(), project=corpus.project.root,
                                  django_settings=SETTINGS))


def above_low(a: Assessment) -> list[str]:
    return [f"{f.severity} {f.id}: {f.subjects[:5]}" for f in a.findings
            if level_rank(f.severity) > level_rank("LOW")]


def test_clean_database_raises_nothing_above_low(corpus, app_files, copy):
    db = copy()
    for a in (django_view(corpus, db),
              analyze(collect_bundle(db.source(), project=app_files))):
        assert above_low(a) == []
        assert a.data_loss == "unknown"
        assert not any(s.state not in ("applied", "recorded_not_in_scan") for s in a.migrations
                       if s.recorded), [s for s in a.migrations if s.recorded
                                        and s.state != "applied"][:3]


#: Records deleted together: each large history on its own, the one-package apps at once
#: (every Django command costs seconds of imports: suite time).
BATCHES = {"oscar": UNITS["oscar"], "wagtail": UNITS["wagtail"], "cms": UNITS["cms"],
           "packages": [label for unit, labels in sorted(UNITS.items())
                        if unit not in ("oscar", "wagtail", "cms") for label in labels]}


@pytest.mark.parametrize("batch", sorted(BATCHES))
def test_deleted_records_are_re_recorded_as_django_sees_them(request, corpus, copy, batch):
    on_one_server(request, corpus.server)
    db = copy()
    project, server = corpus.project, corpus.server
    labels = BATCHES[batch]
    deleted = {k for k, v in project.showmigrations(server, db.name).items()
               if v and k[0] in labels}
    db.execute("DELETE FROM django_migrations WHERE app IN ("
               + ", ".join(f"'{label}'" for label in labels) + ")")
    a = django_view(corpus, db)
    option = next(o for o in a.recovery_options if o.id == "refake_verified")
    # The rows the fix writes; a squashed migration is written as the migrations it
    # replaces and itself, as Django's executor records it: compared as Django lists it.
    rows = set(re.findall(r"^\('([^']*)', '([^']*)', pg_catalog\.now\(\)\)[,;]$",
                          option.script or "", re.M))
    offered = {k for k in rows if k in deleted}
    assert offered and offered <= deleted
    waiting = {(s.app, s.name) for s in a.migrations if not s.recorded
               and s.fake in ("unverifiable", "blocked")}
    assert offered | waiting == deleted, sorted(deleted - offered - waiting)[:5]
    # The fix as delivered: fix/option-N.py, run as the report says, in the project.
    py = next(f for f in option.files if f.name.endswith(".py"))
    (project.root / py.name).parent.mkdir(exist_ok=True)
    (project.root / py.name).write_text(py.content)
    res = project.shell(server, db.name, py.run)
    assert res.returncode == 0, res.stderr[-2000:]
    after = project.showmigrations(server, db.name)
    assert {k for k in deleted if after[k]} == offered
    predicted = next((x for x in option.outcome if x.startswith("`migrate --plan` lists")), "")
    listed = set(predicted.removeprefix("`migrate --plan` lists: ").rstrip(".").split(", ")) \
        if predicted else set()
    plan = project.plan(server, db.name)
    if any("InconsistentMigrationHistory" in x for x in option.outcome):
        assert plan.returncode != 0 and "InconsistentMigrationHistory" in plan.stderr
    else:
        assert plan.returncode == 0, plan.stderr[-1000:]
        assert set(project.planned(plan.stdout)) == listed


#: django-constance's 0003 is irreversible (Django itself refuses to unapply it), Wagtail
#: depends on taggit; of oscar, an app no other app depends on.
ZERO = ["knox", "guardian", "reversion", "authtoken", "django_celery_results", "wishlists"]


def test_migrate_zero_is_seen_as_django_sees_it(request, corpus, copy):
    on_one_server(request, corpus.server)
    db = copy()
    # `migrate APP zero` for each app, in one Django process (imports cost seconds).
    corpus.project.manage(corpus.server, db.name, "shell", "-c",
                          "from django.core.management import call_command\n"
                          f"for label in {ZERO!r}:\n"
                          "    call_command('migrate', label, 'zero', interactive=False)")
    a = django_view(corpus, db)
    listed = {(s.app, s.name): s.recorded for s in a.migrations if s.in_code}
    assert listed == corpus.project.showmigrations(corpus.server, db.name)
    # Django deleted their records and dropped their tables: not applied now, or applied and
    # lost (as they were, with their rows): the honest answer is "pending or lost".
    assert not [x for x in above_low(a) if any(label in x for label in ZERO)
                and not x.startswith("MEDIUM migration.pending_or_lost")]


@pytest.mark.parametrize(("ddl", "subject"), [
    ("DROP TABLE knox_authtoken", "knox_authtoken"),
    ("ALTER TABLE catalogue_product DROP COLUMN title", "catalogue_product.title"),
])
def test_a_dropped_table_or_column_is_named_exactly(request, corpus, app_files, copy, ddl,
                                                     subject):
    on_one_server(request, corpus.server)
    db = copy()

    def views() -> list[Assessment]:  # Django mode, and the static scan of the same files
        return [django_view(corpus, db),
                analyze(collect_bundle(db.source(), project=app_files))]

    clean = [{f.id for f in a.findings} for a in views()]
    db.execute(ddl)
    for before, a in zip(clean, views(), strict=True):
        high = [f for f in a.findings if level_rank(f.severity) >= level_rank("HIGH")]
        assert high and all(subject in f.subjects for f in high
                            if f.dimension in ("data", "schema")), \
            [(f.id, f.subjects) for f in high]
        new = {f.id for f in a.findings} - before
        assert new <= {"data.tables_missing", "data.columns_missing",
                       "schema.recorded_but_missing", "data.no_baseline"}, new
