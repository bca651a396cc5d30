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
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from reportgen.analyze import analyze
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


def _owner(db) -> psycopg.Connection:
    return psycopg.connect(db.server.dsn(db.name, user=f"owner_{db.name}",
                                         password="owner-pw"), autocommit=True)


@pytest.fixture
def rows_deleted(hostile, tmp_path):
    """The owner's accounts table, keyed by varchar, with an operator = of the owner's own on
    varchar that plants its mark; a baseline, a restored copy, then 3 of 5 rows deleted. The
    owner is not a superuser; the responder who runs the printed repair is."""
    db, marker = hostile
    with _owner(db) as conn:
        conn.execute("""
SET search_path = pg_catalog, public;
CREATE TABLE public.accounts (code varchar(8) PRIMARY KEY, v text);
INSERT INTO public.accounts SELECT 'c' || i, 'v' || i FROM generate_series(1, 5) i;
CREATE FUNCTION public.eq(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('operator ='); RETURN $1::pg_catalog.text
  OPERATOR(pg_catalog.=) $2::pg_catalog.text;
  END $f$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.eq);
""")
    baseline = collect_bundle(db.source(), exact_counts=True)
    restored = f"{db.name}_restored"
    db.server.psql(f"CREATE DATABASE {restored} TEMPLATE {db.name}")
    try:
        with _owner(db) as conn:
            conn.execute("DELETE FROM public.accounts WHERE code IN ('c1', 'c2', 'c3')")
        a = analyze(collect_bundle(db.source(), exact_counts=True), baseline=baseline)
        repair = next(o for o in a.recovery_options if o.id == "repair_rows_columns")
        env = {**os.environ, "PATH": f"{db.server.binaries.bindir}:{os.environ['PATH']}",
               "PGPASSWORD": db.server.password, "RESTORED_DSN": db.server.dsn(restored),
               "PRODUCTION_DSN": db.dsn}
        (tmp_path / (repair.script_file or "")).write_text(repair.script or "")
        yield db, marker, repair, env, tmp_path
    finally:
        db.server.psql(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")


def _codes(db) -> list[str]:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT code::pg_catalog.text FROM public.accounts ORDER BY 1").fetchall()]


def _bash(commands: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The printed commands pasted into a real shell, as printed."""
    return subprocess.run(["bash", "-c", "\n".join(commands)], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)


def test_printed_repair_runs_no_operator_of_the_owner_as_superuser(rows_deleted):
    """repair.sql compared keys with a bare ``=`` and set no search_path: the owner's
    ``public.=(varchar, varchar)`` ran once per row as the superuser pasting it. Now the
    script empties search_path and names ``OPERATOR(pg_catalog.=)``."""
    db, marker, repair, env, work = rows_deleted
    with psycopg.connect(db.dsn, autocommit=True) as conn:  # the trap is live
        conn.execute("SELECT count(*) FROM public.accounts a, public.accounts b "
                     "WHERE a.code = b.code")
    assert "operator =" in _ran(marker)
    marker.unlink()
    assert "OPERATOR(pg_catalog.=)" in (repair.script or "")
    res = _bash(repair.commands, work, env)
    assert res.returncode == 0, res.stderr
    assert _ran(marker) == ""
    assert _codes(db) == ["c1", "c2", "c3", "c4", "c5"]


def test_a_staging_schema_planted_in_advance_stops_the_repair(rows_deleted):
    """The owner creates the staging schema first, with rows of their own and a trigger:
    the script's own CREATE SCHEMA fails, psql stops, and nothing reaches production."""
    db, marker, repair, env, work = rows_deleted
    staging = next(w.rstrip(";") for w in (repair.script or "").split()
                   if w.startswith('"reportgen_repair_'))
    with _owner(db) as conn:
        conn.execute(f"""
SET search_path = pg_catalog, public;
CREATE SCHEMA {staging};
CREATE TABLE {staging}.rows_1 (code varchar(8), v text);
INSERT INTO {staging}.rows_1 VALUES ('planted', 'x');
CREATE FUNCTION {staging}.t() RETURNS trigger LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM public.planted('staging trigger'); RETURN NEW; END $f$;
CREATE TRIGGER t BEFORE INSERT ON {staging}.rows_1 FOR EACH ROW EXECUTE FUNCTION {staging}.t();
""")
    res = _bash(repair.commands, work, env)
    assert res.returncode != 0 and "already exists" in res.stderr
    assert _ran(marker) == ""
    assert _codes(db) == ["c4", "c5"]


def test_printed_commands_stop_at_the_first_failure(rows_deleted):
    """The restored copy cannot be read (a wrong DSN): no later command runs, so repair.sql
    never starts against production."""
    db, _, repair, env, work = rows_deleted
    env = {**env, "RESTORED_DSN": db.server.dsn(f"{db.name}_nonexistent")}
    res = _bash(repair.commands, work, env)
    assert res.returncode != 0
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        schemas = conn.execute("SELECT nspname FROM pg_catalog.pg_namespace").fetchall()
    assert not [s for (s,) in schemas if s.startswith("reportgen_repair")]
    assert _codes(db) == ["c4", "c5"]
