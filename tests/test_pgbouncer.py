"""Through PgBouncer in transaction pooling mode (as Neon's -pooler hosts are): one
transaction, SET LOCAL only, no prepared statements."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from reportgen.pgserver import free_port

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                         if Path("/usr/sbin/pgbouncer").exists() else None)


@pytest.fixture(scope="module")
def bouncer(server, tmp_path_factory) -> Iterator[int]:
    if PGBOUNCER is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed: python3 tasks.py test installs it")
        pytest.skip("pgbouncer is not installed (python3 tasks.py test installs it as root)")
    d = tmp_path_factory.mktemp("pgbouncer")
    port = free_port()
    (d / "users.txt").write_text(f'"postgres" "{server.password}"\n')
    (d / "pgbouncer.ini").write_text(f"""[databases]
* = host=127.0.0.1 port={server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {d}/users.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
""")
    kw = {}
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        user = pwd.getpwnam("postgres") if _has("postgres") else pwd.getpwnam("reportgen-pg")
        for p in [d, *d.iterdir()]:
            os.chown(p, user.pw_uid, user.pw_gid)
        for p in d.parents:
            if not p.stat().st_mode & 0o001:
                p.chmod(p.stat().st_mode | 0o001)
        kw = {"user": user.pw_uid, "group": user.pw_gid}
    proc = subprocess.Popen([PGBOUNCER, str(d / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"pgbouncer did not start: {(d / 'pgbouncer.log').read_text()[-500:]}")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _has(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def test_assess_through_transaction_pooling(bouncer, db, tmp_path):
    db.execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 42);"
               "CREATE TABLE django_migrations (id bigserial, app text, name text, "
               "applied timestamptz)")
    dsn = f"postgresql://postgres:{db.server.password}@127.0.0.1:{bouncer}/{db.name}"
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                          "--exact-counts", "--out", str(out), "--format", "md"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    b = load_bundle(out / "evidence.json")
    assert b.complete
    assert b.identity.server_port == db.server.port != bouncer  # a pooler was in the path
    assert {r.name: r.exact_rows for r in b.inventory.relations}["t"] == 42
    assert analyze(b).data_loss == "unknown"
    # The one pooled server connection carries none of reportgen's settings afterwards.
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        st = conn.execute("SELECT current_setting('statement_timeout'), "
                          "current_setting('transaction_read_only')").fetchone()
    assert st == ("0", "off")
