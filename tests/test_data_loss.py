"""Data-loss evidence against real servers: baselines with exact counts, the server's own
statistics, and its logs in the three formats it writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from reportgen.collect.server_log import read_server_logs
from reportgen.connection import DsnSource
from reportgen.outputs import render_outputs
from reportgen.render.markdown import render_markdown
from reportgen.render.view import RenderOptions

PLANT = """
CREATE TABLE orders (id int PRIMARY KEY, total int);
CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO orders SELECT i, i FROM generate_series(1, 1234) i;
INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 50) i;
"""


def test_truncate_after_baseline_is_confirmed_with_the_delta(db):
    db.execute(PLANT)
    before = collect_bundle(db.source(), exact_counts=True)
    rel = {r.name: r for r in before.inventory.relations}
    assert rel["orders"].exact_rows == 1234 and before.inventory.exact_counts.counted == 2
    db.execute("TRUNCATE orders")
    after = collect_bundle(db.source(), exact_counts=True)
    a = analyze(after, baseline=before)
    assert a.data_loss == "confirmed" and a.data_loss_basis == "baseline"
    assert "public.orders 1234 → 0 (-1234)" in a.data_loss_explanation
    lost = next(f for f in a.findings if f.id == "data.rows_lost_since_baseline")
    assert lost.subjects == ["public.orders"]
    assert [(r.table, r.before, r.after) for r in a.changes.rows_fell] == [
        ("public.orders", 1234, 0)]
    # the same database without a baseline: never "none_detected"
    assert analyze(after).data_loss != "none_detected"
    # unchanged database with exact counts on both sides: nothing lost
    again = collect_bundle(db.source(), exact_counts=True)
    same = analyze(again, baseline=after)
    assert same.data_loss == "none_detected" and same.data_loss_basis == "baseline"
    text = render_markdown(after, a, RenderOptions())
    assert "### Changes since the baseline" in text and "-1234" in text


def test_estimates_alone_never_confirm(db):
    db.execute(PLANT + "ANALYZE orders;")
    before = collect_bundle(db.source())
    db.execute("DELETE FROM orders WHERE id > 10; ANALYZE orders")
    a = analyze(collect_bundle(db.source()), baseline=before)
    assert a.data_loss == "suspected" and a.data_loss_basis == "baseline"
    assert "data.row_estimates_dropped" in {f.id for f in a.findings}


def test_exact_counts_skip_locked_tables_and_respect_the_budget(db):
    db.execute(PLANT)
    holder = psycopg.connect(db.dsn)
    try:
        holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        b = collect_bundle(db.source(), exact_counts=True, lock_timeout_ms=100)
        rel = {r.name: r for r in b.inventory.relations}
        assert rel["orders"].exact_rows == 1234
        assert rel["customers"].exact_rows is None
        assert "locked ACCESS EXCLUSIVE" in rel["customers"].count_error
    finally:
        holder.close()
    b = collect_bundle(db.source(), exact_counts=True, count_budget_s=0.0)
    assert all("budget" in (r.count_error or "") for r in b.inventory.relations)
    assert b.inventory.exact_counts.counted == 0


def test_emptied_table_is_a_signal_without_baseline(db):
    """Rows written and none live: emptied by deletes, it may be the table's own cleanup
    (suspected, MEDIUM); truncated (no delete counted), its rows are gone (confirmed)."""
    db.execute(PLANT)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM customers")
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.2)  # statistics reach shared memory at most once a second
    b = collect_bundle(db.source())
    # Without --exact-counts, the suspicion is settled by counting just that table.
    assert b.inventory.exact_counts.targeted and b.inventory.exact_counts.counted == 1
    rel = {r.name: r for r in b.inventory.relations}
    assert rel["customers"].exact_rows == 0 and rel["orders"].exact_rows is None
    a = analyze(b)
    f = next(f for f in a.findings if f.id == "data.tables_emptied")
    assert f.subjects == ["public.customers"] and "50 rows deleted" in f.evidence[0]
    assert "count(*) in the snapshot: 0" in f.evidence[0] and f.severity == "MEDIUM"
    assert a.data_loss == "suspected" and a.data_loss_basis == "statistics"
    db.execute("TRUNCATE orders")
    time.sleep(1.2)
    truncated = analyze(collect_bundle(db.source()))
    f = next(f for f in truncated.findings if f.id == "data.tables_truncated")
    assert f.severity == "HIGH" and f.subjects == ["public.orders"]
    assert truncated.data_loss == "confirmed" and "orders" in truncated.data_loss_explanation
    # The same statistics with rows found by the count: cleared, not reported.
    data = b.model_dump(mode="json")
    for r in data["inventory"]["relations"]:
        if r["name"] == "customers":
            r["exact_rows"] = 7
    from reportgen.bundle import EvidenceBundle

    cleared = analyze(EvidenceBundle.model_validate(data).sealed())
    assert "data.tables_emptied" not in {f.id for f in cleared.findings}
    assert cleared.data_loss == "unknown"


def test_real_server_log_events_reach_the_timeline(logging_server):
    srv = logging_server
    srv.psql("CREATE DATABASE shop")
    dsn = srv.dsn("shop")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute(PLANT.encode())
    t0 = datetime.now(UTC)
    with psycopg.connect(dsn, autocommit=True, application_name="check_tables.py") as conn:
        conn.execute("TRUNCATE customers")
        conn.execute("DROP TABLE orders CASCADE")
        conn.execute("DELETE FROM customers")
    t1 = datetime.now(UTC)
    time.sleep(0.5)
    logdir = srv.datadir / "log"
    files = sorted(p for p in logdir.iterdir() if p.is_file())
    assert {p.name for p in files} >= {"pg", "pg.csv"}
    for path in files:  # each format on its own gives the same two events at the right time
        log = read_server_logs([path], line_prefix=_prefix(srv))
        evs = [(e.kind, e.statement) for e in log.events if e.application == "check_tables.py"
               or path.name == "pg"]
        assert ("TRUNCATE", "TRUNCATE customers") in evs, path.name
        assert ("DROP TABLE", "DROP TABLE orders CASCADE") in evs, path.name
        for e in log.events:
            if e.statement == "DROP TABLE orders CASCADE":
                assert t0 - timedelta(seconds=1) <= e.time <= t1 + timedelta(seconds=1)
                assert e.user == "postgres" and e.database == "shop"
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[logdir / "pg.csv"])
    a = analyze(b)
    assert a.data_loss == "confirmed" and a.data_loss_basis == "server_log"
    dropped = next(f for f in a.findings if f.id == "data.tables_dropped_logged")
    assert dropped.subjects == ["orders"]
    events = [e for e in a.timeline if e.source.startswith("server log")
              and "app check_tables.py" in e.event]
    assert [e.event.split(":")[0] for e in events] == ["TRUNCATE", "DROP TABLE",
                                                        "DELETE without WHERE"]
    assert all(t0 - timedelta(seconds=1) <= e.time <= t1 + timedelta(seconds=1) for e in events)
    kinds = {s.kind for s in b.signals.statements}
    assert {"TRUNCATE", "DROP TABLE", "DELETE without WHERE"} <= kinds
    assert "data.destructive_statements" in {f.id for f in a.findings}


def _prefix(srv) -> str:
    """The server's own log_line_prefix (what collection reads into the bundle)."""
    with psycopg.connect(srv.dsn("postgres")) as conn:
        return str(conn.execute("SHOW log_line_prefix").fetchone()[0])


def test_pdf_shows_the_timeline_figure(demo_bundle, tmp_path: Path):
    from reportgen.timeline_file import parse_timeline
    from tests.conftest import FIXTURES

    events = parse_timeline((FIXTURES / "demo-timeline.csv").read_text(), "t.csv")
    a = analyze(demo_bundle, timeline=events)
    render_outputs(demo_bundle, a, RenderOptions(tz="UTC+6"), tmp_path, ["html", "pdf"])
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 1 and "<circle" in html
    assert "Figure: the timeline by source (UTC+6)" in html
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages)
    assert "Figure: the timeline by source" in text and "Responder" in text


def test_server_log_evidence_cannot_be_steered_by_statement_text(logging_server):
    """A DROP whose text pretends to be reportgen's, one run under an application_name that
    starts with reportgen, and one whose comment names another user and database: all three
    are evidence, attributed from the log line's own fields, with the tables PostgreSQL's
    parser reads (a dot inside a quoted name does not split it)."""
    srv = logging_server
    srv.psql("CREATE DATABASE hostile_log")
    dsn = srv.dsn("hostile_log")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE victim1 (id int); CREATE TABLE victim2 (id int); '
                     'CREATE TABLE "Mixed.Case" (id int); CREATE TABLE kept (id int)')
        conn.execute('INSERT INTO victim1 VALUES (1); INSERT INTO victim2 VALUES (1); '
                     'INSERT INTO "Mixed.Case" VALUES (1)')  # rows written, then lost
    with psycopg.connect(dsn, autocommit=True, application_name="attacker") as conn:
        conn.execute("DROP TABLE /* app=reportgen */ victim1")
        conn.execute('DROP TABLE /* user=ceo db=payroll */ "Mixed.Case"')
    with psycopg.connect(dsn, autocommit=True, application_name="reportgen/9.9") as conn:
        conn.execute("DROP TABLE victim2")
    time.sleep(0.5)
    logdir = srv.datadir / "log"
    for path in (logdir / "pg", logdir / "pg.csv"):
        log = read_server_logs([path], line_prefix=_prefix(srv))
        drops = [e for e in log.events if e.kind == "DROP TABLE"
                 and e.database == "hostile_log"]
        assert [[t.name for t in e.tables] for e in drops] == [
            ["victim1"], ["Mixed.Case"], ["victim2"]], path.name
        assert {e.user for e in drops} == {"postgres"}, path.name
        assert [e.application for e in drops] == ["attacker", "attacker", "reportgen/9.9"]
        assert all(e.session and e.session.isdigit() for e in drops)
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[logdir / "pg.csv"])
    a = analyze(b)
    dropped = next(f for f in a.findings if f.id == "data.tables_dropped_logged")
    assert sorted(t.name for t in dropped.tables) == ["Mixed.Case", "victim1", "victim2"]
    assert "kept" not in dropped.subjects


def test_own_session_is_told_by_pid_and_time():
    from reportgen.collect.server_log import OwnSession

    t = datetime(2026, 1, 1, tzinfo=UTC)
    own = OwnSession(4242, t, t + timedelta(seconds=5))
    assert own.owns("4242", t + timedelta(seconds=1))
    assert not own.owns("4242", t + timedelta(seconds=6))  # the PID reused later
    assert not own.owns("4243", t + timedelta(seconds=1))
    assert not own.owns(None, t + timedelta(seconds=1))


def test_server_log_path_commands_restore_hostile_names(logging_server, tmp_path):
    """No baseline: the lost tables come from the server log's DROP. Their names hold shell
    and pattern syntax; the printed pg_dump/pg_restore, run in a real shell against a copy
    made before the DROP, bring exactly those tables back and run nothing of the names."""
    import os
    import shlex
    import subprocess

    from psycopg import sql

    from reportgen.quoting import pg_dump_pattern

    srv = logging_server
    names = ["x; touch pwned #", "$(touch pwned)", "Mixed Case", "a.b", "kept"]
    srv.psql("CREATE DATABASE prod")
    dsn = srv.dsn("prod")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in names:
            conn.execute(sql.SQL("CREATE TABLE {} (id int); INSERT INTO {} VALUES (1), (2)")
                         .format(sql.Identifier(n), sql.Identifier(n)))
    srv.psql("CREATE DATABASE restored TEMPLATE prod")
    with psycopg.connect(dsn, autocommit=True, application_name="oops") as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names[:4])))
    time.sleep(0.5)
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[srv.datadir / "log" / "pg.csv"])
    a = analyze(b)
    repair = next(o for o in a.recovery_options if o.id == "selective_repair")
    (command,) = repair.commands  # pg_dump && pg_restore: the restore runs only on a dump
    words = shlex.split(command)
    assert [words[i + 1] for i, w in enumerate(words) if w == "-t"] == [
        pg_dump_pattern(None, n) for n in names[:4]]  # in the DROP's order
    env = {**os.environ, "PATH": f"{srv.binaries.bindir}:{os.environ['PATH']}",
           "RESTORED_DSN": srv.dsn("restored"), "PRODUCTION_DSN": dsn}
    res = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "pwned").exists()
    with psycopg.connect(dsn) as conn:
        for n in names:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(n))).fetchone()
            assert count == (2,), n


def test_a_dropped_table_is_not_always_lost_data(logging_server, tmp_path):
    """A table the log shows created and dropped within its window, in a log that records
    this database's writes, with no write to it logged, is reported as dropped with what is
    known of its rows, not as confirmed data loss; one created before the log's window is
    confirmed lost, and the restore point is the log's DROP time."""
    srv = logging_server
    srv.psql("CREATE DATABASE droptest")
    dsn = srv.dsn("droptest")
    logfile = srv.datadir / "log" / "pg.csv"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE old_table (id int); INSERT INTO old_table VALUES (1)")
    time.sleep(0.5)
    start = logfile.stat().st_size  # the window given to reportgen starts here
    with psycopg.connect(dsn, autocommit=True, application_name="oops") as conn:
        conn.execute("INSERT INTO old_table VALUES (2)")  # the log records writes
        conn.execute("CREATE TABLE scratch (id int)")
        conn.execute("DROP TABLE scratch")
        conn.execute("DROP TABLE old_table")
    time.sleep(0.5)
    window = tmp_path / "window.csv"
    with logfile.open("rb") as fh:
        fh.seek(start)
        window.write_bytes(fh.read())
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[window])
    a = analyze(b)
    ids = {f.id: f for f in a.findings}
    assert ids["schema.tables_dropped_without_rows"].subjects == ["scratch"]
    assert ids["data.tables_dropped_logged"].subjects == ["old_table"]
    drop = next(e for e in b.server_log.events if e.kind == "DROP TABLE"
                and e.tables[0].name == "old_table")
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    assert pitr.restore_point == drop.time - timedelta(minutes=1)
    assert any("server log's first DROP TABLE of a lost table" in s for s in pitr.steps)
    assert a.data_loss == "confirmed"


def test_server_log_attribution_comes_from_fields_postgresql_controls(logging_server):
    """An application_name that spells ``user=ceo db=payroll`` never makes ceo the author of
    the attacker's DROP (the stderr line is read with the server's own log_line_prefix, and
    where it reads two ways the user is unknown); a ``\\r`` inside a statement neither
    forges a line (a DROP of payroll_ledger by ceo) nor hides the real DROP after it."""
    srv = logging_server
    srv.psql("CREATE DATABASE spoof_log")
    dsn = srv.dsn("spoof_log")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE victim (id int); CREATE TABLE other (id int)")
    forged = ("2026-01-01 00:00:00.000 UTC [1] app=x user=ceo db=payroll LOG:  statement: "
              "DROP TABLE payroll_ledger")
    with psycopg.connect(dsn, autocommit=True,
                         application_name="x user=ceo db=payroll") as conn:
        conn.execute("DROP TABLE other")
    with psycopg.connect(dsn, autocommit=True, application_name="y") as conn:
        conn.execute(f"SELECT 1 /* \r{forged}; -- */")
        conn.execute(f"DROP TABLE victim /* \r{forged.replace('DROP TABLE', 'SELECT')} */")
    time.sleep(0.5)
    logdir = srv.datadir / "log"
    assert "\r" in (logdir / "pg").read_bytes().decode()  # PostgreSQL wrote it as it is
    for path in (logdir / "pg", logdir / "pg.csv"):
        log = read_server_logs([path], line_prefix=_prefix(srv))
        mine = [e for e in log.events if e.database in ("spoof_log", None)]
        assert "ceo" not in {e.user for e in log.events}, path.name
        assert not [e for e in log.events for t in e.tables if t.name == "payroll_ledger"]
        drops = {t.name: e for e in mine if e.kind == "DROP TABLE" for t in e.tables}
        assert set(drops) == {"other", "victim"}, path.name
        assert drops["victim"].user == "postgres", path.name
        if path.name == "pg":  # read two ways: unknown, and said
            assert drops["other"].user is None and drops["other"].database is None
            assert any("read two ways" in n for n in log.notes)
            assert any("log_line_prefix" in n for n in log.notes)
        else:
            assert drops["other"].user == "postgres"
    # Collected with the server: its log_line_prefix is in the bundle and used.
    b = collect_bundle(DsnSource("--dsn", dsn), server_logs=[logdir / "pg"])
    assert b.identity is not None and b.identity.log_line_prefix == _prefix(srv)
    assert b.server_log is not None and "ceo" not in {e.user for e in b.server_log.events}
    srv.psql("DROP DATABASE spoof_log")


def test_a_prefix_read_two_ways_attributes_nobody():
    """An application_name that holds the rest of a prefix and a forged statement: the two
    readings of the line differ, so nobody is named (before: user=ceo was taken from it)."""
    from reportgen.collect.server_log import LinePrefix

    p = LinePrefix.compile("%m [%p] app=%a user=%u db=%d ")
    fields, message, two_ways = p.read(
        "2026-01-01 00:00:00.000 UTC [5] app=z user=ceo db=payroll LOG:  statement: DROP "
        "TABLE fake user=postgres db=real LOG:  statement: SELECT 1") or ({}, "", False)
    assert two_ways and fields["user"] is None and fields["db"] is None
    fields, message, two_ways = p.read(
        "2026-01-01 00:00:00.000 UTC [5] app=psql user=ops db=shop LOG:  statement: DROP "
        "TABLE t") or ({}, "", True)
    assert not two_ways and (fields["user"], fields["db"], fields["app"]) == ("ops", "shop",
                                                                              "psql")
    assert message == "statement: DROP TABLE t"
