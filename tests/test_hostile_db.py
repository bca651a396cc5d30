"""A hostile database owner (not a superuser) plants objects that would run their code inside
a superuser's collection (PostgreSQL's CVE-2018-1058 class): overloads in public that match
reportgen's calls better than pg_catalog's, an operator, an aggregate standing in for
count(*), a type with a cast, views named like migration trackers, and a search_path that
puts public first. Each planted object, when it runs, writes through COPY ... TO PROGRAM (as
the superuser running it). The test first shows the trap works on an ordinary session, then
collects as the superuser and checks that nothing ran and every count is true."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from reportgen.collect.run import collect_bundle


def _plant(db, owner: str, marker: Path) -> None:
    program = f"cat >> {marker}"
    db.execute(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw'; "
               f"ALTER DATABASE {db.name} OWNER TO {owner}; "
               f"ALTER SCHEMA public OWNER TO {owner}")
    with psycopg.connect(db.server.dsn(db.name, user=owner, password="owner-pw"),
                         autocommit=True) as conn:
        conn.execute(f"""
CREATE TABLE public.t2 (id int); INSERT INTO public.t2 VALUES (1), (2);
CREATE FUNCTION public.planted(tag text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE pg_catalog.format('COPY (SELECT %L) TO PROGRAM %L', tag, '{program}');
EXCEPTION WHEN insufficient_privilege THEN NULL;  -- the owner's own tries do nothing
END $f$;
CREATE FUNCTION public.pg_total_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('pg_total_relation_size'); RETURN 0; END $f$;
CREATE FUNCTION public.trunc(real) RETURNS numeric LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('trunc'); RETURN 0; END $f$;
CREATE FUNCTION public.cardinality(name[]) RETURNS int LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('cardinality'); RETURN 0; END $f$;
CREATE FUNCTION public.unnest(oid[]) RETURNS SETOF oid LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('unnest'); END $f$;
CREATE FUNCTION public.format_type(oid, integer) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('format_type'); RETURN 'x'; END $f$;
CREATE FUNCTION public.has_table_privilege(oid, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('has_table_privilege'); RETURN true; END $f$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('current_setting'); RETURN '8192'; END $f$;
CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('pg_get_userbyid'); RETURN 'x'; END $f$;
CREATE FUNCTION public.lt(real, integer) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('operator <'); RETURN false; END $f$;
CREATE OPERATOR public.< (LEFTARG = real, RIGHTARG = integer, FUNCTION = public.lt);
CREATE FUNCTION public.bump(bigint) RETURNS bigint LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('count'); RETURN $1 + 1; END $f$;
CREATE AGGREGATE public.count(*) (SFUNC = public.bump, STYPE = bigint, INITCOND = '1000000');
CREATE TYPE public.text AS ENUM ('x');
CREATE FUNCTION public.to_text(name) RETURNS public.text LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('cast'); RETURN 'x'; END $f$;
CREATE CAST (name AS public.text) WITH FUNCTION public.to_text(name);
CREATE FUNCTION public.rows() RETURNS TABLE (id bigint, app text, name text,
    applied timestamptz, version_num text) LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('view'); END $f$;
CREATE SCHEMA shadow;
CREATE VIEW shadow.django_migrations AS SELECT id, app, name, applied FROM public.rows();
CREATE VIEW shadow.alembic_version AS SELECT version_num FROM public.rows();
ALTER DATABASE {db.name} SET search_path = public, pg_catalog;
""")


@pytest.fixture
def hostile(db):
    # The server's own (unprivileged) user writes here through COPY TO PROGRAM.
    marker_dir = Path(tempfile.mkdtemp(prefix="reportgen-planted-"))
    os.chmod(marker_dir, 0o777)
    marker = marker_dir / "ran.txt"
    owner = f"owner_{db.name}"
    _plant(db, owner, marker)
    yield db, marker
    db.execute(f"ALTER DATABASE {db.name} OWNER TO {db.server.superuser}")
    db.server.psql(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")
    db.server.psql(f"DROP ROLE IF EXISTS {owner}")
    shutil.rmtree(marker_dir, ignore_errors=True)


def _ran(marker: Path) -> str:
    time.sleep(0.2)
    return marker.read_text() if marker.exists() else ""


def test_the_trap_is_live_for_an_unguarded_superuser_session(hostile):
    """Without reportgen's defences the planted objects run as the superuser: the test below
    would see their mark."""
    db, marker = hostile
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM t2").fetchone()[0]
    assert n == 1_000_002
    assert "count" in _ran(marker)


def test_collection_as_superuser_runs_nothing_planted(hostile):
    db, marker = hostile
    b = collect_bundle(db.source(), exact_counts=True)
    assert _ran(marker) == ""  # no planted function, operator, aggregate, cast or view ran
    rel = {r.qualified: r for r in b.inventory.relations}
    assert rel["public.t2"].exact_rows == 2
    assert rel["public.t2"].total_bytes is not None and rel["public.t2"].total_bytes > 0
    assert rel["public.t2"].owner == f"owner_{db.name}"
    assert [c.type for c in rel["public.t2"].columns] == ["integer"]
    assert b.identity.search_path == "public, pg_catalog"  # what the application sees
    assert b.identity.current_schema == "public"
    dj = b.migrations.django
    assert dj.table_present and not dj.readable and dj.records == []
    assert "shadow.django_migrations is a view, not a table: not read" in dj.error
    (alembic,) = b.migrations.others
    assert alembic.table == "alembic_version" and not alembic.readable
    assert "is a view, not a table: not read" in alembic.error
    assert all(c.status == "ok" for c in b.collection.collectors), b.collection.collectors


def test_a_real_tracker_table_is_preferred_and_read(hostile):
    """A django_migrations table on the application's search_path is read; the view of the
    same name elsewhere is only reported."""
    db, marker = hostile
    db.execute("SET search_path = pg_catalog; CREATE TABLE public.django_migrations "
               "(id bigserial PRIMARY KEY, app text, name text, applied timestamptz); "
               "INSERT INTO public.django_migrations "
               "(app, name, applied) VALUES ('auth', '0001_initial', now())")
    b = collect_bundle(db.source())
    dj = b.migrations.django
    assert dj.schema_name == "public" and dj.readable
    assert [(r.app, r.name) for r in dj.records] == [("auth", "0001_initial")]
    assert dj.ignored == ["shadow.django_migrations is a view, not a table: not read "
                          "(reading it would run code its owner controls)"]
    assert _ran(marker) == ""
