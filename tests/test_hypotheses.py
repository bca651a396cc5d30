"""Root-cause hypotheses weighed by machine evidence only, in scenarios built in a real
PostgreSQL: records deleted, records never written, a table dropped, rows deleted, a dangling
migration reference, a clean and an empty database; and the script hypotheses (a role that
information_schema blinds, another database) from the script's own query in a real server
log. Each hypothesis of the fixed set is SUPPORTED, CONTRADICTED and UNDECIDED at least once;
a responder's timeline line never decides one."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from reportgen.analyze import analyze
from reportgen.analyze.hypotheses import HYPOTHESES
from reportgen.analyze.model import TimelineEntry
from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource

HEAD = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
FILES = {
    ("shop", "0001_initial"): HEAD + """    initial = True
    dependencies = []
    operations = [migrations.CreateModel(name="Order", fields=[
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("total", models.IntegerField())])]
""",
    ("shop", "0002_order_note"): HEAD + """    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField(model_name="order", name="note",
                                      field=models.TextField(default=""))]
""",
    ("crm", "0001_initial"): HEAD + """    initial = True
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.CreateModel(name="Client", fields=[
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("name", models.TextField())])]
""",
}
DANGLING = HEAD + """    dependencies = [("crm", "0001_initial"), ("shop", "0002_order_note")]
    operations = [migrations.AddField(model_name="client", name="favourite",
        field=models.ForeignKey(to="shop.Basket", null=True, on_delete=models.CASCADE))]
"""
SCHEMA = """
CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz);
CREATE TABLE shop_order (id bigint PRIMARY KEY, total int, note text);
CREATE TABLE crm_client (id bigint PRIMARY KEY, name text);
INSERT INTO shop_order SELECT i, i, '' FROM generate_series(1, 20) i;
INSERT INTO crm_client SELECT i, 'c' FROM generate_series(1, 5) i;
"""


def _project(root: Path, extra: dict[tuple[str, str], str] | None = None) -> Path:
    for (app, name), text in {**FILES, **(extra or {})}.items():
        mig = root / app / "migrations"
        mig.mkdir(parents=True, exist_ok=True)
        (root / app / "models.py").write_text("")
        (mig / "__init__.py").write_text("")
        (mig / f"{name}.py").write_text(text)
    return root


def _records(db, apps: tuple[str, ...] = ("shop", "crm")) -> None:
    values = ", ".join(f"('{a}', '{n}', now())" for a, n in FILES if a in apps)
    db.execute(f"INSERT INTO django_migrations (app, name, applied) VALUES {values}")


def _verdicts(db, project: Path | None, *, baseline=None, timeline=None, dsn=None
              ) -> dict[str, str]:
    time.sleep(0.6)  # statistics reach the cumulative stats system within a second
    b = collect_bundle(db.source(dsn), project=project, exact_counts=baseline is not None)
    a = analyze(b, baseline=baseline, timeline=timeline)
    assert [h.id for h in a.hypotheses] == [s.id for s in HYPOTHESES]
    return {h.id: h.verdict for h in a.hypotheses}


#: Judged from the script's own query in a server log (test_the_script_hypotheses_...).
SCRIPT_HYPOTHESES = ("query_blind", "wrong_database")


@pytest.fixture
def seen():
    out: dict[str, set[str]] = defaultdict(set)
    yield out
    for spec in HYPOTHESES:  # every verdict of every hypothesis occurs in these scenarios
        if spec.id not in SCRIPT_HYPOTHESES:
            assert out[spec.id] >= {"supported", "contradicted", "undecided"}, (
                spec.id, out[spec.id])


def _note(seen, verdicts: dict[str, str]) -> dict[str, str]:
    for k, v in verdicts.items():
        seen[k].add(v)
    return verdicts


def test_six_scenarios(server, seen, tmp_path):
    """One test so the coverage assertion sees them all; each scenario has its own database."""
    from tests.conftest import Database

    made: list[str] = []

    def fresh(name: str, apps: tuple[str, ...] | None = ("shop", "crm")) -> Database:
        """A new database, dropped at the end; with the schema and these apps' records
        (apps None: empty)."""
        server.psql(f"CREATE DATABASE {name}")
        made.append(name)
        db = Database(server, name)
        if apps is not None:
            db.execute(SCHEMA)
            _records(db, apps)
        return db

    try:
        # clean, with a baseline of exact counts: nothing happened
        db = fresh("hyp_clean")
        proj = _project(tmp_path / "p1")
        time.sleep(0.6)
        base = collect_bundle(db.source(), project=proj, exact_counts=True)
        v = _note(seen, _verdicts(db, proj, baseline=base))
        assert v == {"records_deleted": "contradicted", "never_recorded": "contradicted",
                     "tables_dropped": "contradicted", "rows_deleted": "contradicted",
                     "dangling_reference": "contradicted", "query_blind": "undecided",
                     "wrong_database": "undecided"}

        # records deleted (the responder's line says 'never recorded': it decides nothing)
        db = fresh("hyp_deleted")
        db.execute("DELETE FROM django_migrations WHERE app = 'shop'")
        line = TimelineEntry(time=datetime(2026, 1, 1, tzinfo=UTC), source="timeline file t",
                             event="I think these were never recorded (--fake?)")
        v = _note(seen, _verdicts(db, proj, timeline=[line]))
        assert v["records_deleted"] == "supported" and v["never_recorded"] == "contradicted"
        assert v["rows_deleted"] == "undecided"

        # both: shop's two records deleted, crm's never written (three missing, two deleted)
        db = fresh("hyp_mixed", ("shop",))
        db.execute("DELETE FROM django_migrations WHERE app = 'shop'")
        v = _note(seen, _verdicts(db, proj))
        assert v["records_deleted"] == "supported" and v["never_recorded"] == "undecided"

        # never recorded: crm's tables exist, its record was never written (the counters run
        # since before its dependency was applied, and no row was ever removed)
        db = fresh("hyp_never", ("shop",))
        v = _note(seen, _verdicts(db, proj))
        assert v["never_recorded"] == "supported" and v["records_deleted"] == "contradicted"

        # a table dropped, another truncated, since a baseline
        db = fresh("hyp_dropped")
        time.sleep(0.6)
        base = collect_bundle(db.source(), project=proj, exact_counts=True)
        db.execute("DROP TABLE crm_client; TRUNCATE shop_order")
        v = _note(seen, _verdicts(db, proj, baseline=base))
        assert v["tables_dropped"] == "supported" and v["rows_deleted"] == "supported"

        # a dangling migration reference
        db = fresh("hyp_dangling")
        bad = _project(tmp_path / "p2", {("crm", "0002_client_favourite"): DANGLING})
        v = _note(seen, _verdicts(db, bad))
        assert v["dangling_reference"] == "supported"

        # an empty database: nothing to weigh
        db = fresh("hyp_empty", None)
        v = _note(seen, _verdicts(db, None))
        assert set(v.values()) == {"undecided"}
    finally:
        for name in made:
            server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


COUNT = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"


def _script_verdicts(srv, *, role: str | None, dbname: str, line: bool = True
                     ) -> dict[str, str]:
    """A "check the tables" script run as ``role`` (None: the superuser) in ``dbname``; then
    reportgen collects from database ``scripts`` with the server log, and the responder's
    line about the script (when ``line``)."""
    dsn = srv.dsn(dbname, role, "pw") if role else srv.dsn(dbname)
    with psycopg.connect(dsn, autocommit=True, application_name="audit") as conn:
        row = conn.execute(COUNT).fetchone()
    assert row is not None and (row[0] == 0) == (role is not None or dbname != "scripts")
    said = TimelineEntry(time=datetime.now(UTC), source="timeline file (notes)",
                         event="the audit script listed no tables")
    time.sleep(0.5)
    b = collect_bundle(DsnSource("--dsn", srv.dsn("scripts")),
                       server_logs=[srv.datadir / "log" / "pg.csv"])
    a = analyze(b, timeline=[said] if line else [])
    return {h.id: h.verdict for h in a.hypotheses if h.id in SCRIPT_HYPOTHESES}


def _scripts_db(srv) -> None:
    srv.psql("CREATE DATABASE scripts")
    srv.psql("CREATE TABLE ledger (id int)", dbname="scripts")
    srv.psql("CREATE ROLE auditor LOGIN PASSWORD 'pw'")


def test_a_script_blinded_by_its_role_is_read_from_its_own_query(logging_server):
    _scripts_db(logging_server)
    assert _script_verdicts(logging_server, role="auditor", dbname="scripts") == {
        "query_blind": "supported", "wrong_database": "contradicted"}
    # The same log, without the responder's line saying when the script ran: nothing tells
    # which logged query was the script's.
    assert _script_verdicts(logging_server, role="auditor", dbname="scripts", line=False) == {
        "query_blind": "undecided", "wrong_database": "undecided"}


def test_a_script_in_another_database_is_read_from_its_own_query(logging_server):
    _scripts_db(logging_server)
    assert _script_verdicts(logging_server, role=None, dbname="postgres") == {
        "query_blind": "undecided", "wrong_database": "supported"}


def test_a_script_that_saw_every_table_contradicts_both(logging_server):
    _scripts_db(logging_server)
    assert _script_verdicts(logging_server, role=None, dbname="scripts") == {
        "query_blind": "contradicted", "wrong_database": "contradicted"}
