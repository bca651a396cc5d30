"""The README's collection role (pg_read_all_data + pg_monitor, no superuser) sees what a
superuser sees and can change nothing; without the grants, the bundle says what it lost. A
table whose row-level security applies to the role is not counted, and says why."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from reportgen.collect.run import collect_bundle


@pytest.fixture
def roles(db):
    collector, plain = f"collector_{db.name}", f"plain_{db.name}"
    db.execute(f"""
CREATE ROLE {collector} LOGIN PASSWORD 'pw';
GRANT pg_read_all_data, pg_monitor TO {collector};
CREATE ROLE {plain} LOGIN PASSWORD 'pw';
CREATE SCHEMA app;
CREATE TABLE app.orders (id int PRIMARY KEY); INSERT INTO app.orders SELECT generate_series(1, 5);
CREATE TABLE django_migrations (id serial, app text, name text, applied timestamptz);
INSERT INTO django_migrations (app, name, applied) VALUES ('orders', '0001_initial', now());
CREATE TABLE app.secrets (id int, owner text); INSERT INTO app.secrets VALUES (1, 'x'), (2, 'y');
ALTER TABLE app.secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_x ON app.secrets USING (owner = 'x');
""")
    yield db, collector, plain
    db.server.psql(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")
    db.server.psql(f"DROP ROLE {collector}; DROP ROLE {plain}")


def test_the_collection_role_sees_everything_and_writes_nothing(roles):
    db, collector, _ = roles
    dsn = db.server.dsn(db.name, user=collector, password="pw")
    b = collect_bundle(db.source(dsn), exact_counts=True)
    assert not b.identity.is_superuser
    rel = {r.qualified: r for r in b.inventory.relations}
    assert all(r.readable for r in rel.values())
    assert rel["app.orders"].exact_rows == 5 and rel["app.orders"].total_bytes
    assert [r.name for r in b.migrations.django.records] == ["0001_initial"]
    assert all(c.usage for c in b.inventory.schema_counts)
    # Row-level security applies to this role: with row_security = off the count is refused
    # rather than filtered to the rows the policy lets it see (a false 1 instead of 2).
    assert rel["app.secrets"].exact_rows is None
    assert "row-level security" in rel["app.secrets"].count_error
    with psycopg.connect(dsn, autocommit=True) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO app.orders VALUES (99)")
    res = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--dsn", dsn, "-o",
                          str(db.server.workdir / f"{db.name}.json")],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "note: collected as superuser" not in res.stderr


def test_a_role_without_grants_is_told_what_it_lost(roles):
    db, _, plain = roles
    b = collect_bundle(db.source(db.server.dsn(db.name, user=plain, password="pw")))
    rel = {r.qualified: r for r in b.inventory.relations}
    assert rel["app.orders"].readable is False  # still listed: pg_catalog, not information_schema
    assert not b.migrations.django.readable
    assert not b.complete and any("may not read" in g for g in b.gaps())


def test_superuser_collection_prints_the_recommendation(db, tmp_path):
    res = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--dsn", db.dsn, "-o",
                          str(tmp_path / "b.json")], capture_output=True, text=True)
    assert res.returncode == 0
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: collected as")]
    assert len(notes) == 1 and "pg_read_all_data" in notes[0]
