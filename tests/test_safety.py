"""The promises of DESIGN.md 'Collecting safely', checked against a real server."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest

from reportgen.analyze import analyze
from reportgen.bundle import EvidenceBundle
from reportgen.collect.catalog import read_catalog
from reportgen.collect.inventory import collect_inventory
from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource, read_only_snapshot
from reportgen.errors import ConnectionFailed

ALLOWED = re.compile(r"^(BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY|SHOW search_path$|"
                     r"SET LOCAL |SELECT |WITH |SAVEPOINT |RELEASE |ROLLBACK)", re.IGNORECASE)
WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|TRUNCATE|LOCK|GRANT|REVOKE|COPY|"
                    r"VACUUM|ANALYZE|CLUSTER|REINDEX|COMMIT|nextval|setval|pg_terminate_backend|"
                    r"pg_cancel_backend)\b", re.IGNORECASE)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _reportgen_statements(log: str) -> list[str]:
    """Whole statements (continuation lines included) that reportgen's sessions sent, with
    SQL line comments removed and white space folded."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        if LOG_LINE.match(line):
            current = None
            m = re.search(r"LOG:\s+(?:statement|execute [^:]*):\s*(.*)$", line)
            if m and "app=reportgen" in line:
                current = [m.group(1)]
                blocks.append(current)
        elif current is not None:
            current.append(line)
    return [" ".join(" ".join(re.sub(r"--.*$", "", ln) for ln in b).split()) for b in blocks]


def test_server_log_of_a_full_assess_shows_no_write(db, tmp_path):
    """log_statement = 'all' for this database: every statement reportgen sent is read-only."""
    db.execute("CREATE TABLE django_migrations (id bigserial, app text, name text, "
               "applied timestamptz); CREATE TABLE app_thing (id int); "
               f"ALTER DATABASE {db.name} SET log_statement = 'all'")
    log_path = db.server.logfile
    before = log_path.stat().st_size
    b = collect_bundle(db.source(), project=tmp_path)
    analyze(b)
    time.sleep(0.3)  # the logger writes asynchronously
    with log_path.open(errors="replace") as fh:
        fh.seek(before)
        statements = _reportgen_statements(fh.read())
    assert len(statements) == b.collection.round_trips, statements
    bad = [s for s in statements if not ALLOWED.match(s)]
    assert bad == []
    writes = [s for s in statements if WRITES.search(s)]
    assert writes == [] or all(w.upper().startswith("ROLLBACK") for w in writes), writes
    assert any(s.startswith("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") for s in statements)
    assert statements[-1].upper().startswith("ROLLBACK")


def test_access_exclusive_lock_is_reported_not_waited_for(db):
    db.execute("CREATE TABLE busy (id int); INSERT INTO busy VALUES (1); "
               "CREATE TABLE calm (id int)")
    holder = psycopg.connect(db.dsn, application_name="stuck-migration")
    try:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")  # transaction stays open
        result: dict[str, EvidenceBundle] = {}

        def run() -> None:
            result["bundle"] = collect_bundle(db.source(), lock_timeout_ms=100)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout=60)
        assert not t.is_alive(), "collection hung behind an ACCESS EXCLUSIVE lock"
        b = result["bundle"]
        rels = {r.name: r for r in b.inventory.relations}
        busy = rels["busy"]
        assert busy.total_bytes is None and "ACCESS EXCLUSIVE" in (busy.size_error or "")
        [h] = busy.locked_by
        assert h.mode == "AccessExclusiveLock" and h.granted
        assert h.application_name == "stuck-migration" and h.pid == holder.info.backend_pid
        assert rels["calm"].total_bytes is not None
        a = analyze(b)
        assert "production.relations_locked" in {f.id for f in a.findings}
    finally:
        holder.close()


def test_relation_dropped_during_collection_stays_in_the_snapshot(db):
    """A table another session drops after the snapshot began is still listed as the snapshot
    has it; only its privileges cannot be checked any more (None), and the bundle stays
    valid. The others sharing its ACL and owner keep their answer."""
    db.execute("CREATE TABLE gone_a (id int PRIMARY KEY);"
               "CREATE TABLE gone_b (id int REFERENCES gone_a); CREATE TABLE kept (id int)")
    with read_only_snapshot(db.source()) as (snap, _):
        snap.query("SELECT 1")  # the snapshot is taken by the first query
        db.execute("DROP TABLE gone_b, gone_a")
        inv = collect_inventory(read_catalog(snap)).materialize()
    rels = {r.name: r for r in inv.relations}
    assert rels["gone_a"].readable is None and rels["gone_b"].readable is None
    assert rels["kept"].readable is True
    assert [(fk.columns, fk.ref_table) for fk in rels["gone_b"].foreign_keys] == \
        [(["id"], "gone_a")]


def test_role_without_privileges_reports_nothing_missing(db, tmp_path):
    """Tables the role cannot read are listed from pg_catalog, never called missing."""
    mig = tmp_path / "shop" / "migrations"
    mig.mkdir(parents=True)
    (tmp_path / "shop" / "models.py").write_text("")
    (mig / "__init__.py").write_text("")
    (mig / "0001_initial.py").write_text(
        "from django.db import migrations, models\n\nclass Migration(migrations.Migration):\n"
        "    initial = True\n    dependencies = []\n    operations = [\n"
        "        migrations.CreateModel(name='Order', fields=[('id', models.BigAutoField("
        "primary_key=True)), ('total', models.IntegerField())]),\n    ]\n")
    db.execute(
        "CREATE TABLE django_migrations (id bigserial, app text, name text, applied timestamptz);"
        "INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0001_initial', now());"
        "CREATE TABLE shop_order (id bigint PRIMARY KEY, total int);"
        "CREATE SCHEMA vault; CREATE TABLE vault.secrets (id int);"
        "CREATE ROLE outsider LOGIN PASSWORD 'pw-outsider';"
        "REVOKE ALL ON shop_order FROM PUBLIC; GRANT SELECT ON django_migrations TO outsider")
    try:
        b = collect_bundle(DsnSource("--dsn", db.server.dsn(db.name, "outsider", "pw-outsider")),
                           project=tmp_path)
        rels = {r.qualified: r for r in b.inventory.relations}
        assert rels["public.django_migrations"].readable  # granted: same owner, other ACL
        assert not rels["public.shop_order"].readable
        assert not rels["vault.secrets"].readable
        counts = {c.schema_name: c for c in b.inventory.schema_counts}
        assert counts["vault"].pg_class == 1 and counts["vault"].information_schema == 0
        assert not counts["vault"].usage
        a = analyze(b)
        ids = {f.id for f in a.findings}
        assert "visibility.information_schema_gap" in ids
        assert "visibility.unreadable_relations" in ids
        assert not ids & {"data.tables_missing", "schema.recorded_but_missing"}
        assert [s.state for s in a.migrations if s.app == "shop"] == ["applied"]
    finally:
        db.execute("DROP OWNED BY outsider; DROP ROLE outsider")


def test_wrong_password_is_one_line_without_the_password(db):
    secret = "Wr0ng-Secret-Pw"
    with pytest.raises(ConnectionFailed) as exc:
        collect_bundle(DsnSource("--dsn", db.server.dsn(db.name, "postgres", secret)))
    msg = exc.value.message
    assert secret not in msg and "\n" not in msg
    assert "password authentication failed" in msg and "check the user and password" in msg


def test_refused_connection_and_missing_database(server):
    from reportgen.pgserver import free_port

    with pytest.raises(ConnectionFailed, match="is the server running"):
        collect_bundle(DsnSource("--dsn", f"postgresql://u:pw123456@127.0.0.1:{free_port()}/x"))
    with pytest.raises(ConnectionFailed, match="check the database name") as exc:
        collect_bundle(DsnSource("--dsn", server.dsn("no_such_db")))
    assert server.password not in exc.value.message


def test_collection_gives_back_user_table_locks_between_statements(db):
    """count(*) and size functions lock tables; each lock is released before the next
    statement, so a DDL arriving mid-collection never queues behind reportgen."""
    db.execute("CREATE TABLE a1 (id int); CREATE TABLE a2 (id int); CREATE TABLE a3 (id int);"
               "INSERT INTO a1 SELECT generate_series(1, 1000)")
    held: list[list[str]] = []

    def progress(i: int, total: int, name: str) -> None:
        with psycopg.connect(db.dsn, autocommit=True) as c:
            rows = c.execute(
                "SELECT c.relname FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE a.application_name LIKE 'reportgen%' "
                "AND n.nspname = 'public'").fetchall()
        held.append([r[0] for r in rows])

    b = collect_bundle(db.source(), exact_counts=True, progress=progress)
    assert len(held) == 3 and held == [[], [], []]
    assert {r.name: r.exact_rows for r in b.inventory.relations}["a1"] == 1000


def test_pending_alter_behind_a_long_transaction_is_never_joined(db):
    """A long transaction holds ACCESS SHARE; an ALTER TABLE queues behind it. reportgen must
    finish, name the table, and not queue behind the ALTER (or hold it up afterwards)."""
    db.execute("CREATE TABLE hot (id int); INSERT INTO hot SELECT generate_series(1, 100);"
               "CREATE TABLE cold (id int)")
    long_tx = psycopg.connect(db.dsn, application_name="long-report")
    ddl_done = threading.Event()
    try:
        long_tx.execute("SELECT count(*) FROM hot")  # idle in transaction, ACCESS SHARE held

        def alter() -> None:
            with psycopg.connect(db.dsn, autocommit=True, application_name="deploy") as c:
                c.execute("ALTER TABLE hot ADD COLUMN note text")
            ddl_done.set()

        ddl = threading.Thread(target=alter, daemon=True)
        ddl.start()
        for _ in range(100):  # wait until the ALTER is queued
            if db.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted "
                         "AND mode = 'AccessExclusiveLock'"):
                break
            time.sleep(0.05)
        result: dict[str, EvidenceBundle] = {}
        t = threading.Thread(target=lambda: result.update(b=collect_bundle(
            db.source(), exact_counts=True, lock_timeout_ms=100)), daemon=True)
        t.start()
        t.join(timeout=60)
        assert not t.is_alive(), "collection queued behind the pending ALTER TABLE"
        rels = {r.name: r for r in result["b"].inventory.relations}
        [holder] = rels["hot"].locked_by
        assert holder.application_name == "deploy" and not holder.granted
        assert rels["hot"].exact_rows is None and "locked" in rels["hot"].count_error
        assert rels["cold"].exact_rows == 0
        assert not ddl_done.is_set()  # still waiting for the long transaction, not for us
        long_tx.rollback()
        assert ddl_done.wait(timeout=10)  # nothing of reportgen's stood in its way
    finally:
        long_tx.close()
