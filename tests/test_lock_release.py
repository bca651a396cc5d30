"""Reading a table a database user controls (django_migrations, a tracker table) takes a lock;
reportgen rolls its savepoint back after each such read, so the lock ends with the statement,
not with the snapshot: a DDL waiting for it proceeds while collection is still running."""

from __future__ import annotations

import psycopg

import reportgen.collect.signals as signals
from reportgen.collect.run import collect_bundle


def test_tracker_reads_hold_no_lock_after_the_statement(db, monkeypatch):
    db.execute("CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app text, name text, "
               "applied timestamptz); INSERT INTO django_migrations (app, name, applied) "
               "VALUES ('auth', '0001_initial', now()); "
               "CREATE TABLE alembic_version (version_num text); "
               "INSERT INTO alembic_version VALUES ('abc123')")
    seen: dict[str, object] = {}
    original = signals.collect_signals

    def during_collection(snap):  # runs inside the snapshot, after both tracker reads
        pid = snap.conn.info.backend_pid
        with psycopg.connect(db.dsn, autocommit=True) as other:
            seen["held"] = other.execute(
                "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = %s AND c.relname IN ('django_migrations', 'alembic_version')",
                (pid,)).fetchall()
            # A DDL that needs ACCESS EXCLUSIVE is granted at once (NOWAIT would fail).
            with other.transaction():
                other.execute("LOCK TABLE django_migrations, alembic_version "
                              "IN ACCESS EXCLUSIVE MODE NOWAIT")
                seen["locked"] = True
        return original(snap)

    monkeypatch.setattr(signals, "collect_signals", during_collection)
    b = collect_bundle(db.source())
    assert seen == {"held": [], "locked": True}
    assert [r.name for r in b.migrations.django.records] == ["0001_initial"]
    assert b.migrations.others[0].current == "abc123"
