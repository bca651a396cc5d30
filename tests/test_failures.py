"""Failures a responder meets: each is one clear line, a documented exit code, no traceback,
no password, and no partial file where a complete one was promised."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from reportgen.collect.run import collect_bundle
from reportgen.connection import DsnSource
from reportgen.errors import ConnectionFailed
from reportgen.pgserver import LocalServer

SECRET = "Sup3r-Secret-Pw"


def rg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, timeout=120)


def one_error(res: subprocess.CompletedProcess[str], code: int) -> str:
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and SECRET not in res.stderr + res.stdout
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("reportgen: ")]
    assert len(errors) == 1, res.stderr
    return errors[0]


def test_host_that_never_answers_is_bounded(tmp_path):
    """A TCP peer that accepts and then says nothing (a hung host, a black-holing proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        out = tmp_path / "e.json"
        res = rg("collect", "--dsn", f"postgresql://app:{SECRET}@127.0.0.1:{port}/db",
                 "--connect-timeout", "2", "-o", str(out))
        err = one_error(res, 3)
        assert "did not answer in time" in err and not out.exists()
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        listener.close()


def test_ssl_required_but_refused(db, tmp_path):
    dsn = db.server.dsn(db.name, password=None) + "?sslmode=require"
    res = rg("collect", "--dsn", dsn.replace("postgres@", f"postgres:{SECRET}@"), "-o",
             str(tmp_path / "e.json"))
    err = one_error(res, 3)
    assert "SSL" in err and "sslmode" in err and not (tmp_path / "e.json").exists()


def test_database_dropped_between_runs(server, tmp_path):
    server.psql("CREATE DATABASE gone_soon")
    dsn = server.dsn("gone_soon")
    assert rg("collect", "--dsn", dsn, "-o", str(tmp_path / "a.json")).returncode == 0
    server.psql("DROP DATABASE gone_soon")
    err = one_error(rg("assess", "--dsn", dsn, "--out", str(tmp_path / "out")), 3)
    assert 'database "gone_soon" does not exist' in err and "check the database name" in err
    assert server.password not in err
    assert not (tmp_path / "out" / "evidence.json").exists()


def test_server_shut_down_mid_collection(server, tmp_path):
    srv = LocalServer(server.binaries)
    srv.start()
    try:
        srv.psql("CREATE DATABASE shop; ")
        srv.psql("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int)",
                 dbname="shop")

        def stop_server(i: int, total: int, name: str) -> None:
            if i == 2:
                srv.stop()

        with pytest.raises(ConnectionFailed) as exc:
            collect_bundle(DsnSource("--dsn", srv.dsn("shop")), exact_counts=True,
                           progress=stop_server)
        msg = exc.value.message
        assert "lost the connection" in msg and srv.password not in msg and "\n" not in msg
    finally:
        srv.stop()
    err = one_error(rg("collect", "--dsn", srv.dsn("shop"), "-o", str(tmp_path / "e.json")), 3)
    assert "is the server running" in err and not (tmp_path / "e.json").exists()


def test_statement_timeout_is_reported_not_fatal(db, tmp_path):
    db.execute("CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 3000000) g;"
               "CREATE TABLE small (id int)")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", db.dsn, "--exact-counts", "--count-timeout-ms", "10", "--out",
             str(out), "--format", "md")
    assert res.returncode == 0, res.stderr
    md = (out / "report.md").read_text()
    assert "canceling statement due to statement timeout" in md
    from reportgen.bundle import load_bundle

    rels = {r.name: r for r in load_bundle(out / "evidence.json").inventory.relations}
    assert rels["big"].exact_rows is None and rels["small"].exact_rows == 0


def test_failed_collector_leaves_a_partial_bundle_and_strict_exits_5(db, tmp_path):
    """The identity query reads pg_stat_ssl; revoked (in this database only), the identity
    collector fails: the rest is collected, the failure recorded, --strict exits 5."""
    db.execute("CREATE ROLE lim LOGIN PASSWORD 'pw-lim-123';"
               "REVOKE SELECT ON pg_catalog.pg_stat_ssl FROM PUBLIC")
    try:
        dsn = db.server.dsn(db.name, "lim", "pw-lim-123")
        out = tmp_path / "e.json"
        res = rg("collect", "--dsn", dsn, "-o", str(out))
        assert res.returncode == 0 and "warning: collector identity failed" in res.stderr
        from reportgen.bundle import load_bundle

        b = load_bundle(out)
        assert b.identity is None and b.inventory is not None and not b.complete
        run = b.collector("identity")
        assert run.status == "error" and "permission denied" in run.error
        assert "pw-lim-123" not in out.read_text()
        strict = tmp_path / "s.json"
        err = one_error(rg("collect", "--dsn", dsn, "-o", str(strict), "--strict"), 5)
        assert "--strict" in err and strict.exists()  # written, then flagged
        a = rg("analyze", str(out))
        assert "EVIDENCE INCOMPLETE" in a.stdout and "evidence.identity_failed" in a.stdout
    finally:
        db.execute("GRANT SELECT ON pg_catalog.pg_stat_ssl TO PUBLIC; DROP OWNED BY lim; "
                   "DROP ROLE lim")


def test_catalog_query_error_is_recorded_and_the_snapshot_goes_on(db, monkeypatch):
    """The catalog queries run in their own thread and savepoint while the rest of reportgen
    imports: an error there is the inventory collector's failure, recorded like any other,
    and the collectors after it still read the same snapshot."""
    from reportgen.collect import run

    def failing(snap):
        snap.query("SELECT 1 / 0")

    monkeypatch.setattr(run, "read_catalog", failing)
    b = collect_bundle(db.source())
    inv = b.collector("inventory")
    assert inv.status == "error" and "division by zero" in (inv.error or "")
    assert b.inventory is None and b.identity is not None and b.signals is not None
    assert b.collector("identity").status == "ok" and not b.complete


def test_interrupt_during_the_catalog_queries_cancels_them(db, monkeypatch):
    """Ctrl-C while the catalog queries run (in their thread): the query is cancelled on the
    server, not left to run out its statement_timeout, and the snapshot still closes."""
    from reportgen.collect import identity, run

    seen: list[str] = []
    started = threading.Event()

    def slow(snap):
        started.set()
        try:
            snap.query("SELECT pg_sleep(600)")
        except Exception as exc:
            seen.append(str(exc))
            raise

    def interrupted(source):
        started.wait(10)
        for _ in range(100):  # until the server runs it
            if db.scalar("SELECT count(*) FROM pg_stat_activity WHERE query = "
                         "'SELECT pg_sleep(600)' AND state = 'active'"):
                break
            time.sleep(0.05)
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "read_catalog", slow)
    monkeypatch.setattr(identity, "target_from", interrupted)
    with pytest.raises(KeyboardInterrupt):
        collect_bundle(db.source(), statement_timeout_ms=120_000)
    assert len(seen) == 1 and "canceling statement due to user request" in seen[0]
    left = db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND application_name LIKE 'reportgen%'")
    assert left == 0
