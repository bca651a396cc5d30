"""Baselines before every change: the store (snapshot, list, show, prune, compressed bundles
that diff and render read as they are), --baseline auto picking the right one and never one
of another database, and the Django pre_migrate hook end to end on a real project migrated
by Django itself."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reportgen import baselines
from reportgen.bundle import load_bundle
from reportgen.collect.run import collect_bundle
from reportgen.errors import InputError
from reportgen.quoting import sql_ident
from tests.helpers import startproject
from tests.test_django_project import OVERLAY

pytestmark = pytest.mark.slow


def rg(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", baselines.ENV_STORE)}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=300)


def _at(db, when: datetime):
    return collect_bundle(db.source(), exact_counts=True, clock=lambda: when)


def test_store_snapshot_list_show_prune(db, server, tmp_path):
    store = tmp_path / "store"
    db.execute("CREATE TABLE shop_order (id int PRIMARY KEY); INSERT INTO shop_order "
               "SELECT generate_series(1, 7)")
    res = rg("snapshot", "--dsn", db.dsn, "--store", str(store), "--quiet")
    assert res.returncode == 0, res.stderr
    [entry] = baselines.entries(store)
    assert entry.file.endswith(".json.gz") and entry.counted == entry.tables == 1
    assert (store / entry.file).read_bytes()[:2] == b"\x1f\x8b"
    # An ordinary bundle: load, diff and render read it compressed.
    b = load_bundle(store / entry.file)
    assert next(r for r in b.inventory.relations if r.name == "shop_order").exact_rows == 7
    assert rg("diff", str(store / entry.file), str(store / entry.file)).returncode == 0
    out = tmp_path / "r"
    assert rg("render", str(store / entry.file), "--format", "md", "--out", str(out),
              "-q").returncode == 0
    listed = rg("baselines", "list", "--store", str(store))
    assert entry.file in listed.stdout and "1/1 counted" in listed.stdout
    shown = rg("baselines", "show", entry.file, "--store", str(store))
    assert entry.digest in shown.stdout and "7" not in shown.stderr
    # Older snapshots (their clock set back), then pruning: by count, then by age; the newest
    # of each database is always kept.
    now = datetime.now(UTC)
    for days in (40, 30, 20, 10):
        baselines.add(store, _at(db, now - timedelta(days=days)))
    assert len(baselines.entries(store)) == 5
    assert len(baselines.prune(store, keep=4)) == 1
    assert len(baselines.prune(store, keep_days=15, now=now)) == 2
    left = baselines.entries(store)
    assert [e.file for e in left][-1] == entry.file and len(left) == 2
    gone = baselines.prune(store, keep_days=0.0001, now=now + timedelta(days=1))
    assert len(gone) == 1 and baselines.entries(store)[0].file == entry.file
    # A lost index is rebuilt from the bundles.
    (store / baselines.INDEX).unlink()
    assert [e.file for e in baselines.entries(store)] == [entry.file]


def test_auto_picks_this_database_before_the_incident_never_another(server, tmp_path):
    from tests.conftest import Database

    store = tmp_path / "store"
    made = []
    try:
        for name in ("bl_one", "bl_two"):
            server.psql(f"CREATE DATABASE {sql_ident(name)}")
            made.append(name)
        one, two = Database(server, "bl_one"), Database(server, "bl_two")
        now = datetime.now(UTC)
        early = baselines.add(store, _at(one, now - timedelta(hours=3)))
        late = baselines.add(store, _at(one, now - timedelta(hours=1)))
        other = baselines.add(store, _at(two, now - timedelta(minutes=30)))
        assert other.file.split("/")[0] != early.file.split("/")[0]
        current = collect_bundle(one.source())
        choice = baselines.pick(store, current, now - timedelta(hours=2), "the first event")
        assert choice.entry == early and "latest of 1 baseline(s)" in choice.why
        assert baselines.pick(store, current, now, "this collection").entry == late
        none = baselines.pick(store, current, now - timedelta(hours=4), "the first event")
        assert none.entry is None and "all later" in none.why
        assert baselines.pick(store, collect_bundle(two.source()), now - timedelta(hours=2),
                              "x").entry is None  # one's baselines are never two's
    finally:
        for name in made:
            server.psql(f"DROP DATABASE IF EXISTS {sql_ident(name)} WITH (FORCE)")


def test_a_database_name_never_leaves_the_store():
    for name in ("../../etc", "a/b", "..", "", "\u202e", "x" * 200, 'q"; $(touch x)'):
        folder = baselines.DatabaseKey("1", name, None).folder()
        assert "/" not in folder and not folder.startswith(".") and len(folder) <= 53
    assert baselines.DatabaseKey("1", "a/b", None).folder() != \
        baselines.DatabaseKey("1", "a_b", None).folder()


def test_a_damaged_compressed_bundle_is_one_clear_error(tmp_path):
    bad = tmp_path / "b.json.gz"
    bad.write_bytes(gzip.compress(b'{"digest": "x"')[:-6])
    with pytest.raises(InputError, match="gzip data is damaged"):
        load_bundle(bad)


HOOK = OVERLAY + """
INSTALLED_APPS = [*INSTALLED_APPS, "reportgen.django_app"]
REPORTGEN_BASELINE_STORE = os.environ["T_STORE"]
"""


def test_a_baseline_before_every_migrate_then_confirmed_or_none_detected(server, tmp_path):
    """Django migrates part of a real project (a baseline of the empty database is taken),
    rows are written, the next migrate takes a baseline with them counted; assess --baseline
    auto then finds nothing lost, and after a table is truncated and another dropped, it
    confirms both, with their row counts."""
    from tests.conftest import Database

    store = tmp_path / "store"
    site = startproject(tmp_path, "mysite", HOOK)
    server.psql("CREATE DATABASE bl_site")
    db = Database(server, "bl_site")
    env = {**os.environ, "T_DB": "bl_site", "T_PW": server.password,
           "T_PORT": str(server.port), "T_STORE": str(store),
           "DJANGO_SETTINGS_MODULE": "mysite.test_settings"}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "manage.py", *args], cwd=site, env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return res

    try:
        first = manage("migrate", "auth")
        assert "baseline before migrate" in first.stderr
        assert len(baselines.entries(store)) == 1
        db.execute("INSERT INTO auth_group (name) SELECT 'g' || i FROM generate_series(1, 5) i;"
                   "INSERT INTO auth_user (password, is_superuser, username, first_name, "
                   "last_name, email, is_staff, is_active, date_joined) SELECT 'x', false, "
                   "'u' || i, '', '', '', false, true, now() FROM generate_series(1, 3) i")
        users = db.scalar("SELECT count(*) FROM auth_user")  # guardian adds AnonymousUser
        manage("migrate")  # the rest: admin, sessions, taggit, guardian ...
        entries = baselines.entries(store)
        assert len(entries) == 2
        assert manage("migrate").stderr.count("baseline before migrate") == 0  # nothing to do
        with_rows = load_bundle(store / entries[-1].file)
        counts = {r.name: r.exact_rows for r in with_rows.inventory.relations}
        assert counts["auth_group"] == 5 and counts["auth_user"] == users >= 3

        def assess(out: str) -> dict[str, Any]:
            res = rg("assess", "--dsn", db.dsn, "--baseline", "auto", "--baseline-store",
                     str(store), "--incident-start", start.isoformat(), "--exact-counts",
                     "--format", "md", "--out", str(tmp_path / out))
            assert res.returncode == 0, res.stderr
            assert f"baseline: {entries[-1].file}" in res.stderr
            return json.loads((tmp_path / out / "assessment.json").read_text())

        time.sleep(0.01)
        start = datetime.now(UTC)  # when the incident began: after the last baseline
        untouched = assess("before")
        assert untouched["data_loss"] == "none_detected", untouched["data_loss_explanation"]
        assert entries[-1].time.strftime("%Y-%m-%d %H:%M:%S") in \
            untouched["data_loss_explanation"]
        db.execute("TRUNCATE auth_group CASCADE; DROP TABLE auth_user CASCADE")
        hit = assess("after")
        assert hit["data_loss"] == "confirmed"
        ids = {f["id"]: f for f in hit["findings"]}
        assert ids["data.tables_dropped_since_baseline"]["subjects"] == ["public.auth_user"]
        assert "public.auth_group: 5 → 0 rows (-5, 100% of the table)" in \
            ids["data.rows_lost_since_baseline"]["evidence"][0]
        md = (tmp_path / "after" / "report.md").read_text()
        assert "chosen by --baseline auto" in md
        assert "Last seen in the baseline taken" in md and f"public.auth_user {users} rows" in md
        # The same from manage.py: the store comes from the setting the hook uses.
        manage("incident_assessment", "--baseline", "auto", "--incident-start",
               start.isoformat(), "--exact-counts", "--format", "md", "--out",
               str(tmp_path / "django"))
        django = json.loads((tmp_path / "django" / "assessment.json").read_text())
        assert django["data_loss"] == "confirmed"
        assert django["baseline_digest"] == hit["baseline_digest"]
    finally:
        server.psql("DROP DATABASE IF EXISTS bl_site WITH (FORCE)")


def test_a_failing_hook_never_stops_migrate(server, tmp_path):
    """The store cannot be written: migrate goes on, and a warning says why."""
    from tests.conftest import Database

    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    site = startproject(tmp_path, "mysite", HOOK)
    server.psql("CREATE DATABASE bl_fail")
    Database(server, "bl_fail")
    env = {**os.environ, "T_DB": "bl_fail", "T_PW": server.password,
           "T_PORT": str(server.port), "T_STORE": str(blocked / "store"),
           "DJANGO_SETTINGS_MODULE": "mysite.test_settings"}
    try:
        res = subprocess.run([sys.executable, "manage.py", "migrate", "contenttypes"], cwd=site,
                             env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert "no baseline taken before migrate" in res.stderr and "migrate goes on" in \
            res.stderr and server.password not in res.stderr
        assert "Applying contenttypes.0001_initial... OK" in res.stdout
    finally:
        server.psql("DROP DATABASE IF EXISTS bl_fail WITH (FORCE)")


def test_a_held_store_lock_never_holds_up_migrate(request, server, tmp_path):
    """Another user's process holds the store's lock: the hook gives up after a few seconds,
    says so, and migrate applies its migrations."""
    from tests.conftest import Database, on_one_server

    on_one_server(request, server)
    store = tmp_path / "store"
    store.mkdir()
    (store / baselines.LOCK).touch()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(120)"), str(store / baselines.LOCK)],
        stdout=subprocess.PIPE, text=True)
    site = startproject(tmp_path, "mysite", HOOK)
    server.psql("CREATE DATABASE bl_locked")
    Database(server, "bl_locked")
    env = {**os.environ, "T_DB": "bl_locked", "T_PW": server.password,
           "T_PORT": str(server.port), "T_STORE": str(store),
           "DJANGO_SETTINGS_MODULE": "mysite.test_settings"}
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        res = subprocess.run([sys.executable, "manage.py", "migrate", "contenttypes"], cwd=site,
                             env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "locked by another process" in res.stderr and "migrate goes on" in res.stderr
        assert "Applying contenttypes.0001_initial... OK" in res.stdout
    finally:
        holder.kill()
        holder.wait()
        server.psql("DROP DATABASE IF EXISTS bl_locked WITH (FORCE)")
