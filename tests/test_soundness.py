"""The incident shapes that got a confident wrong answer (issue 22's list), each a named test
on a database Django migrated from the real apps of the corpus (tests/incidents/), or a real
server where Django is not the point. Each asserts the sound answer: right where the evidence
decides, "undecided" with what would decide it where it does not, never wrong.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from reportgen.analyze import analyze
from reportgen.analyze.model import Assessment
from reportgen.bundle import EvidenceBundle
from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource
from tests.conftest import on_one_server
from tests.incidents.project import SETTINGS
from tests.incidents.world import ACTIVITY, World

pytestmark = pytest.mark.slow


class Cell:
    """A copy of the corpus template with an application's activity, to plant one incident
    on; collected in Django mode (or static mode, given files), as the superuser."""

    def __init__(self, world: World, template: str | None = None) -> None:
        self.world = world
        self.name = world.clone(template or world.template, prefix="s")
        world.execute(self.name, ACTIVITY)

    def sql(self, *statements: str) -> None:
        for s in statements:
            self.world.execute(self.name, s)

    def source(self) -> DsnSource:
        return DsnSource("--dsn", self.world.dsn(self.name))

    def bundle(self, *, project: Path | None = None, **kw: object) -> EvidenceBundle:
        os.environ.update({k: v for k, v in self.world.project.env(
            self.world.server, self.name).items() if k.startswith("T_")})
        if project is not None:
            return collect_bundle(self.source(), project=project, **kw)
        return collect_bundle(self.source(), project=self.world.project.root,
                              django_settings=SETTINGS, **kw)


@pytest.fixture
def cell(request: pytest.FixtureRequest, corpus: World) -> Iterator[Cell]:
    on_one_server(request, corpus.server)
    c = Cell(corpus)
    yield c
    corpus.drop(c.name)


def _ids(a: Assessment) -> set[str]:
    return {f.id for f in a.findings}


def _hyp(a: Assessment, hid: str) -> str:
    return next(h.verdict for h in a.hypotheses if h.id == hid)


def test_a_cms_whose_records_were_deleted_gets_the_recorder_fix(cell):
    """Records of two Wagtail apps deleted, every table intact: their RunPython migrations
    ran (what is built on them is present), so the chain after them is re-recordable, the
    fix is recommended, and Django plans exactly what the report predicted once it ran."""
    cell.sql("DELETE FROM django_migrations WHERE app IN ('wagtailcore', 'wagtailimages')")
    a = analyze(cell.bundle())
    fix = next(o for o in a.recovery_options if o.id == "refake_verified")
    assert fix.recommended
    data = {(s.app, s.name): s for s in a.migrations if s.app == "wagtailcore"}
    runpython = data["wagtailcore", "0054_initial_locale"]  # a RunPython migration
    assert runpython.fake == "safe" and "ran before" in (runpython.basis or "")
    assert not [s for s in data.values() if s.fake == "blocked"]
    res = cell.world.project.shell(cell.world.server, cell.name, fix.commands[0])
    assert res.returncode == 0, res.stderr[-1500:]
    plan = cell.world.project.plan(cell.world.server, cell.name)
    assert plan.returncode == 0, plan.stderr[-1500:]
    predicted = next(x for x in fix.outcome if x.startswith("`migrate --plan`"))
    planned = cell.world.project.planned(plan.stdout)
    if planned:
        assert predicted == "`migrate --plan` lists: " + ", ".join(planned) + "."
    else:
        assert predicted == "`migrate --plan`: no planned operations."


def test_tables_dropped_then_records_cleared_are_lost_not_pending(cell):
    """DROP ... CASCADE, then the "cleanup" of django_migrations: Wagtail's migrations, which
    depend on taggit's first one, are present, so taggit's ran: its tables are lost schema,
    never "pending", and nothing tells the responder to run migrate over the loss."""
    cell.sql("DROP TABLE taggit_taggeditem, taggit_tag CASCADE",
             "DELETE FROM django_migrations WHERE app = 'taggit'")
    a = analyze(cell.bundle())
    first = next(s for s in a.migrations if (s.app, s.name) == ("taggit", "0001_initial"))
    assert first.state == "schema_lost_unrecorded" and "ran before" in (first.basis or "")
    assert not [s for s in a.migrations if s.app == "taggit" and s.state == "pending"]
    assert "TABLES MISSING" in a.status and "TABLES INTACT" not in a.status
    assert _hyp(a, "tables_dropped") == "supported"
    assert "migration.pending" not in _ids(a)
    assert a.data_loss == "confirmed"


def test_a_table_emptied_by_design_is_not_loss(corpus, cell):
    """Expired sessions cleaned by Django's clearsessions and a task queue drained: with a
    baseline whose counters show the tables delete rows in their ordinary course, the rows
    gone are listed, never CRITICAL, never in a recommended repair; without one, a table
    emptied by deletes is suspected at most, never confirmed."""
    before = cell.bundle(exact_counts=True)
    time.sleep(1.1)
    corpus.project.manage(corpus.server, cell.name, "clearsessions")
    cell.sql("DELETE FROM django_celery_results_taskresult WHERE status = 'SUCCESS'")
    after = cell.bundle(exact_counts=True)
    a = analyze(after, baseline=before)
    assert a.data_loss == "none_detected", a.data_loss_explanation
    churn = next(f for f in a.findings if f.id == "data.rows_removed_by_design")
    assert churn.severity == "LOW" and "public.django_session" in churn.subjects
    assert not [o for o in a.recovery_options if o.recommended]
    plain = analyze(after)
    assert plain.data_loss != "confirmed"
    assert not [o for o in plain.recovery_options if o.recommended and o.commands]


def test_counters_reset_after_the_incident_decide_nothing(cell):
    """Records deleted, then pg_stat_reset(): the counters start after the incident, so "no
    delete counted" is no evidence; records_deleted is never CONTRADICTED by it, nor
    never_recorded SUPPORTED."""
    cell.sql("DELETE FROM django_migrations WHERE app = 'knox'")
    time.sleep(1.1)
    cell.sql("SELECT pg_stat_reset()")
    a = analyze(cell.bundle())
    assert _hyp(a, "records_deleted") != "contradicted"
    assert _hyp(a, "never_recorded") != "supported"
    decide = next(h for h in a.hypotheses if h.id == "records_deleted").would_decide
    assert decide and "baseline" in decide


def test_foreign_keys_gone_are_schema_damage(cell):
    """DROP ... CASCADE takes the foreign keys of the tables that stay: the migrations that
    created them are not "applied" intact, and the report names the keys."""
    cell.sql("ALTER TABLE knox_authtoken DROP CONSTRAINT "
             "knox_authtoken_user_id_e5a5d899_fk_auth_user_id")
    a = analyze(cell.bundle())
    knox = next(s for s in a.migrations if (s.app, s.name) == ("knox", "0001_initial"))
    assert knox.state == "applied_schema_missing"
    assert "foreign key knox_authtoken(user_id) → auth_user" in knox.missing
    keys = next(f for f in a.findings if f.id == "schema.keys_missing")
    assert "knox_authtoken" in keys.subjects and a.risks["schema"] != "LOW"


def test_views_are_not_tables_in_the_baseline_diff(cell):
    """A view and the materialized view built on it dropped by CASCADE: a schema difference,
    named as what it is; never a lost table, never data loss."""
    before = cell.bundle(exact_counts=True)
    cell.sql("DROP VIEW reporting.active_users CASCADE")
    a = analyze(cell.bundle(exact_counts=True), baseline=before)
    views = next(f for f in a.findings if f.id == "schema.views_dropped_since_baseline")
    assert set(views.subjects) == {"reporting.active_users", "reporting.user_tags"}
    assert "data.tables_dropped_since_baseline" not in _ids(a)
    assert a.data_loss == "none_detected"


def test_static_mode_never_calls_unread_apps_intact(corpus, cell, tmp_path):
    """Static mode whose files leave knox out, on a database where knox's table is gone: the
    headline says what was not checked, never TABLES INTACT."""
    files = corpus.project.app_files(tmp_path / "apps", leave_out=("knox",))
    cell.sql("DROP TABLE knox_authtoken")
    a = analyze(cell.bundle(project=files))
    # knox's table is the only one gone, and knox was not read: nothing decides it.
    assert a.status.startswith("TABLES NOT DETERMINED"), a.status
    knox = next(s for s in a.apps if s.app == "knox")
    assert knox.tables_expected is None and knox.migrations_in_code is None
    assert not [s.app for s in a.apps if s.tables_missing]


def test_a_project_without_django_migrations_checks_nothing(cell, tmp_path):
    """--project pointed at a repository with no Django migrations: nothing was checked, so
    nothing is called intact."""
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "main.go").write_text("package main\n")
    a = analyze(cell.bundle(project=tmp_path))
    assert "TABLES INTACT" not in a.status and "NOT DETERMINED" in a.status


def test_query_blind_is_judged_by_the_script_not_the_collector(cell):
    """Collected as the superuser, who sees every table through information_schema: that says
    nothing about what the script saw. Without the script's own query in a server log, the
    hypothesis is undecided and says what would decide it."""
    a = analyze(cell.bundle())
    h = next(h for h in a.hypotheses if h.id == "query_blind")
    assert h.verdict == "undecided" and "timeline" in (h.would_decide or "")


def test_the_verify_step_can_pass_and_the_recorder_uses_the_alias(cell):
    """Records deleted where one data migration is a leaf (nothing built on it shows it ran):
    the verify step names what stays for the responder's decision instead of demanding "no
    HIGH finding", and a bundle collected through a DATABASES alias gets a recorder command
    for that alias."""
    cell.sql("DELETE FROM django_migrations WHERE app = 'constance'")
    b = cell.bundle()
    a = analyze(b)
    verify = next(p for p in a.action_plan if p.phase == "verify")
    left = [s for s in a.migrations if not s.recorded and s.fake != "safe"]
    if left:
        assert any("left for your decision" in (i.verify or "") for i in verify.items)
    via = EvidenceBundle.model_validate(
        {**b.model_dump(), "target": {**b.target.model_dump(),
                                      "source": "Django DATABASES['replica']"}})
    fix = next(o for o in analyze(via).recovery_options if o.id == "refake_verified")
    assert 'connections["replica"]' in shlex.split(fix.commands[0])[-1]
    assert "--database replica" in " ".join(fix.verification)


def test_baseline_auto_needs_to_know_when_the_incident_began(cell, tmp_path):
    """Snapshots before and after the incident: without its start, --baseline auto refuses to
    guess between them (and says which exist); with --incident-start it takes the one before."""
    store = tmp_path / "store"
    dsn = cell.world.dsn(cell.name)
    exe = str(Path(sys.executable).parent / "reportgen")
    env = {**os.environ, "PATH": f"{cell.world.server.binaries.bindir}:{os.environ['PATH']}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                              timeout=300)

    assert run("snapshot", "--dsn", dsn, "--store", str(store), "-q").returncode == 0
    time.sleep(1.1)
    start = datetime.now(UTC)
    cell.sql("DROP TABLE knox_authtoken")
    time.sleep(1.1)
    assert run("snapshot", "--dsn", dsn, "--store", str(store), "-q").returncode == 0
    res = run("assess", "--dsn", dsn, "--baseline", "auto", "--baseline-store", str(store),
              "--format", "md", "--out", str(tmp_path / "a"), "-q")
    assert res.returncode == 0, res.stderr
    assert "not known" in res.stderr and "2 baselines" in res.stderr
    a = json.loads((tmp_path / "a" / "assessment.json").read_text())
    assert a["baseline_digest"] is None
    res = run("assess", "--dsn", dsn, "--baseline", "auto", "--baseline-store", str(store),
              "--incident-start", start.isoformat(), "--format", "md", "--out",
              str(tmp_path / "b"), "-q")
    assert res.returncode == 0, res.stderr
    a = json.loads((tmp_path / "b" / "assessment.json").read_text())
    assert a["data_loss"] == "confirmed" and "knox_authtoken" in a["data_loss_explanation"]


def test_a_drop_in_a_ddl_only_log_is_loss(logging_server):
    """log_statement = 'ddl' logs CREATE and DROP but never an INSERT: a table created and
    dropped within the log's window is not thereby known to have been empty."""
    srv = logging_server
    srv.psql("CREATE DATABASE ledger")
    srv.psql("ALTER DATABASE ledger SET log_statement = 'ddl'")
    dsn = srv.dsn("ledger")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE entries (id int PRIMARY KEY)")
        conn.execute("INSERT INTO entries SELECT generate_series(1, 500)")
        conn.execute("DROP TABLE entries")
    time.sleep(0.5)
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[srv.datadir / "log" / "pg.csv"])
    assert [e.kind for e in b.server_log.events if e.tables and e.tables[0].name == "entries"
            ] == ["CREATE TABLE", "DROP TABLE"]  # no INSERT: 'ddl' never logs one
    a = analyze(b)
    assert "data.tables_dropped_logged" in _ids(a)
    assert "schema.tables_dropped_without_rows" not in _ids(a)
    assert a.data_loss == "confirmed"
