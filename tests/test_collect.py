"""Collectors against a real PostgreSQL (two server versions when available)."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql as psql

from reportgen import bundle as bundle_module
from reportgen.bundle import parse_bundle
from reportgen.collect.run import collect, collect_bundle
from reportgen.connection import DsnSource, read_only_snapshot, resolve_dsn
from tests.test_hostile import NAMES

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.parent (id bigint PRIMARY KEY, name text);
CREATE TABLE app.child (id bigint PRIMARY KEY, parent_id bigint REFERENCES app.parent(id),
                        note text);
CREATE INDEX child_parent_idx ON app.child (parent_id);
CREATE TABLE public.never_analyzed (id int);
CREATE VIEW app.parent_names AS SELECT name FROM app.parent;
CREATE MATERIALIZED VIEW app.parent_count AS SELECT count(*) AS n FROM app.parent;
CREATE TABLE public.events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE public.events_2026 PARTITION OF public.events
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO app.parent SELECT i, 'p' || i FROM generate_series(1, 50) i;
INSERT INTO app.child SELECT i, (i % 50) + 1, 'n' FROM generate_series(1, 200) i;
ANALYZE app.parent; ANALYZE app.child;
"""


def test_inventory_matches_pg_class(db):
    db.execute(SCHEMA)
    b = collect_bundle(db.source())
    assert b.complete, b.collection.collectors
    expected = db.scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT IN "
        "('pg_catalog','information_schema') AND n.nspname !~ '^pg_(toast|temp_)'")
    assert len(b.inventory.relations) == expected == 7
    rels = {r.qualified: r for r in b.inventory.relations}
    assert rels["app.parent_names"].kind == "view"
    assert rels["app.parent_count"].kind == "materialized view"
    # Activity statistics for tables and materialized views; a view has none.
    assert rels["app.parent_names"].live_tuples is None
    assert rels["app.parent_names"].inserted_tuples is None
    assert rels["app.parent_count"].live_tuples is not None
    assert rels["app.parent"].inserted_tuples == 50
    assert rels["public.events"].kind == "partitioned table"
    assert rels["public.events_2026"].is_partition
    assert rels["public.never_analyzed"].row_estimate is None  # -1 means unknown, not zero
    assert rels["app.parent"].row_estimate == 50
    child = rels["app.child"]
    assert child.index_count == 2 and "child_parent_idx" in child.indexes
    assert [(f.columns, f.ref_table, f.ref_columns) for f in child.foreign_keys] == [
        (["parent_id"], "parent", ["id"])]
    assert [c.name for c in child.columns] == ["id", "parent_id", "note"]
    assert child.total_bytes and child.total_bytes > 0
    assert all(r.readable for r in b.inventory.relations)


def test_large_catalog_bundle_equals_the_model_path(db, monkeypatch):
    """Above PRETTY_MAX relations, the relations' JSON that PostgreSQL built goes into the
    bundle's bytes without becoming Python objects: it must load (full validation, digest)
    to exactly the inventory the model path gives for the same database."""
    db.execute(SCHEMA)
    with psycopg.connect(db.dsn, autocommit=True) as conn:  # JSON escaping, sort order
        for n in NAMES:
            conn.execute(psql.SQL("CREATE TABLE app.{} ({} int REFERENCES app.parent(id))")
                         .format(psql.Identifier(n), psql.Identifier(n[:20] + "_col")))
    small = collect(db.source())
    assert not small.spliced and small.relations == 7 + len(NAMES)
    monkeypatch.setattr(bundle_module, "PRETTY_MAX", 0)
    large = collect(db.source())
    assert large.spliced and large.relations == small.relations
    assert large.bundle.inventory.relations == []  # they live in the bytes only
    raw = large.bundle.to_bytes()
    assert b'\n  "' not in raw[:200]  # compact, as large bundles are written
    loaded = parse_bundle(raw.decode("utf-8"), "large.json")
    assert loaded.digest == large.bundle.digest
    assert loaded.inventory == small.bundle.inventory
    full = large.full()
    assert full.inventory == small.bundle.inventory and full.to_bytes() == raw
    assert large.full().inventory == full.inventory  # read again from the same bytes
    fresh = collect(db.source())  # its bytes still in the pieces they were sealed from
    assert fresh.full().inventory == small.bundle.inventory
    # Sorted by schema, then name, as PostgreSQL sorts the name type (C collation):
    order = db.scalar("SELECT array_agg(c.relname ORDER BY n.nspname, c.relname) FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
                      "('r','p','v','m','f') AND n.nspname IN ('app', 'public')")
    assert [r.name for r in loaded.inventory.relations] == order


def test_columns_and_foreign_keys_match_the_catalog(db):
    """Columns and foreign keys are assembled in Python from plain catalog rows while the
    server builds the rest (catalog.py): checked here against PostgreSQL's own rendering, on
    what trips a naive join: a dropped column, a column whose catalog row was rewritten
    after the others (SET NOT NULL, TYPE), multi-column keys listed out of column order,
    self and cross-schema references, hostile names, several keys sorted by name."""
    db.execute(SCHEMA)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("""
          CREATE SCHEMA other;
          CREATE TABLE other.pair (a int, gone int, b text, c numeric(10,2),
                                   PRIMARY KEY (b, a));
          ALTER TABLE other.pair DROP COLUMN gone;
          ALTER TABLE other.pair ADD COLUMN d varchar(7)[];
          ALTER TABLE other.pair ALTER COLUMN c SET NOT NULL;
          ALTER TABLE other.pair ALTER COLUMN a TYPE bigint;
          CREATE TABLE app.multi (x text, y int, up bigint REFERENCES app.multi(id2),
                                  id2 bigint UNIQUE,
                                  CONSTRAINT "z_last" FOREIGN KEY (x, y)
                                    REFERENCES other.pair (b, a),
                                  CONSTRAINT "a_first" FOREIGN KEY (y, x)
                                    REFERENCES other.pair (a, b));
        """)
        for n in NAMES:
            conn.execute(psql.SQL(
                "CREATE TABLE app.{} ({} bigint CONSTRAINT {} REFERENCES app.parent(id))")
                .format(psql.Identifier(n), psql.Identifier(n[:20] + "_col"),
                        psql.Identifier("fk " + n[:40])))
        expected_columns = {
            (s, t): [(c, ty, nn) for c, ty, nn in zip(cs, tys, nns, strict=True)]
            for s, t, cs, tys, nns in conn.execute("""
              SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum),
                     array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum),
                     array_agg(a.attnotnull ORDER BY a.attnum)
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('app', 'other', 'public') AND a.attnum > 0
                AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              GROUP BY 1, 2""")}
        expected_fks: dict[tuple[str, str], list[tuple[object, ...]]] = {}
        for s, t, *fk in conn.execute("""
              SELECT n.nspname, c.relname, con.conname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY
                           k(num, i) JOIN pg_attribute a ON a.attrelid = con.conrelid
                           AND a.attnum = k.num ORDER BY k.i),
                     rn.nspname::text, rc.relname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY
                           k(num, i) JOIN pg_attribute a ON a.attrelid = con.confrelid
                           AND a.attnum = k.num ORDER BY k.i)
              FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_class rc ON rc.oid = con.confrelid
              JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE con.contype = 'f' ORDER BY con.conname COLLATE "C" """):
            expected_fks.setdefault((s, t), []).append(tuple(fk))
    b = collect_bundle(db.source())
    assert b.complete, b.collection.collectors
    assert sum(len(v) for v in expected_fks.values()) == 1 + 3 + len(NAMES)
    for r in b.inventory.relations:
        key = (r.schema_name, r.name)
        assert [(c.name, c.type, c.not_null) for c in r.columns] == expected_columns[key]
        assert [(f.name, f.columns, f.ref_schema, f.ref_table, f.ref_columns)
                for f in r.foreign_keys] == expected_fks.get(key, []), key
    rels = {(r.schema_name, r.name): r for r in b.inventory.relations}
    multi = rels["app", "multi"]
    assert [(f.name, f.columns, f.ref_schema, f.ref_table, f.ref_columns)
            for f in multi.foreign_keys] == [
        ("a_first", ["y", "x"], "other", "pair", ["a", "b"]),
        ("multi_up_fkey", ["up"], "app", "multi", ["id2"]),
        ("z_last", ["x", "y"], "other", "pair", ["b", "a"])]
    assert [c.name for c in rels["other", "pair"].columns] == ["a", "b", "c", "d"]


def test_identity_and_password_never_stored(db, server):
    b = collect_bundle(db.source())
    ident = b.identity
    assert ident.current_database == db.name
    assert ident.current_user == "postgres" and ident.is_superuser
    assert ident.server_version_num // 10000 == server.binaries.major
    assert ident.provider.name == "self-hosted"
    assert ident.in_recovery is False
    assert b.target.host == "127.0.0.1" and b.target.dbname == db.name
    text = b.to_json()
    assert server.password not in text
    assert b.collection.application_name.startswith("reportgen")


def test_round_trips_do_not_grow_with_table_count(db):
    db.execute("CREATE TABLE t0 (id int)")
    few = collect_bundle(db.source()).collection.round_trips
    db.execute("DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format("
               "'CREATE TABLE t%s (id int PRIMARY KEY, ref int)', i); END LOOP; END $$")
    many = collect_bundle(db.source())
    assert len(many.inventory.relations) == 301
    assert many.collection.round_trips == few


def test_django_records_and_missing_tracking_table(db):
    b = collect_bundle(db.source())
    assert b.migrations.django.table_present is False
    db.execute("CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255), "
               "name varchar(255), applied timestamptz);"
               "INSERT INTO django_migrations (app, name, applied) VALUES "
               "('auth', '0001_initial', '2026-01-01 10:00+00'), "
               "('auth', '0002_x', '2026-01-02 10:00+00')")
    b = collect_bundle(db.source())
    dj = b.migrations.django
    assert dj.table_present and dj.schema_name == "public"
    assert [(r.app, r.name) for r in dj.records] == [("auth", "0001_initial"), ("auth", "0002_x")]
    assert dj.records[0].applied.isoformat() == "2026-01-01T10:00:00+00:00"


def test_collector_session_cannot_write(db):
    """The snapshot is READ ONLY: a write through it is refused by the server."""
    db.execute("CREATE TABLE victim (id int)")
    with read_only_snapshot(db.source()) as (snap, _), pytest.raises(
            psycopg.errors.ReadOnlySqlTransaction):
        snap.query("DROP TABLE victim")
    assert db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'victim'") == 1


def test_snapshot_settings_are_local_and_bounded(db):
    with read_only_snapshot(db.source(), statement_timeout_ms=1234, lock_timeout_ms=56) as (
            snap, _):
        row = snap.query("SELECT current_setting('transaction_read_only') AS ro, "
                         "current_setting('transaction_isolation') AS iso, "
                         "current_setting('statement_timeout') AS st, "
                         "current_setting('lock_timeout') AS lt, "
                         "current_setting('application_name') AS app")[0]
    assert row == {"ro": "on", "iso": "repeatable read", "st": "1234ms", "lt": "56ms",
                   "app": row["app"]}
    assert row["app"].startswith("reportgen")


def test_dsn_from_database_url_and_libpq_env(db, server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db.dsn.replace("postgresql://", "postgres://"))
    src = resolve_dsn(None)
    assert src.origin == "DATABASE_URL"
    assert collect_bundle(src).identity.current_database == db.name
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(server.port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGPASSWORD", server.password)
    monkeypatch.setenv("PGDATABASE", db.name)
    src = resolve_dsn(None)
    assert src.origin == "libpq environment"
    b = collect_bundle(src)
    assert b.identity.current_database == db.name
    assert b.target.host == "127.0.0.1" and b.target.dbname == db.name
    assert server.password not in b.to_json()


def test_sqlalchemy_style_url_is_accepted(db):
    src = resolve_dsn(db.dsn.replace("postgresql://", "postgresql+psycopg://"))
    assert collect_bundle(src).identity.current_database == db.name


def test_failing_collector_leaves_partial_bundle(db):
    """django_migrations that the role cannot read: recorded as such, the rest is collected."""
    db.execute("CREATE TABLE django_migrations (id int, app text, name text, applied "
               "timestamptz); CREATE ROLE limited LOGIN PASSWORD 'pw-limited';"
               "REVOKE ALL ON django_migrations FROM PUBLIC;"
               f"GRANT CONNECT ON DATABASE {db.name} TO limited")
    try:
        b = collect_bundle(DsnSource("--dsn", db.server.dsn(db.name, "limited", "pw-limited")))
        assert b.inventory is not None
        assert b.migrations.django.table_present and not b.migrations.django.readable
        assert "pw-limited" not in json.dumps(b.model_dump(mode="json"))
    finally:
        db.execute("DROP OWNED BY limited; DROP ROLE limited")
