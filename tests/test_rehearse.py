"""reportgen rehearse on a Django project (Django's startproject with django-taggit from
PyPI, migrated by Django): the records-deleted incident's recommended fix is run on a scratch
copy of the schema and judged by Django's own migrate --plan. A correct fix is confirmed; the
same fix edited (one record left out) is withdrawn, saying what Django still plans; the
inspected database is unchanged, catalog and rows; a scratch DSN that is the inspected
database is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import on_one_server
from tests.helpers import database_checksum, rehearse, startproject

pytestmark = pytest.mark.slow

OVERLAY = """
from .settings import *  # noqa: F401,F403
import os
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": os.environ["T_DB"],
    "USER": "postgres", "PASSWORD": os.environ["T_PW"], "HOST": "127.0.0.1",
    "PORT": os.environ["T_PORT"]}}
INSTALLED_APPS = [*INSTALLED_APPS, "taggit", "reportgen.django_app"]
"""
SETTINGS = "mysite.test_settings"
#: What production holds: every relation with its columns, and every row of the tracker and
#: the application's tables (their count and a digest of their text).
CHECKSUM = """
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' ||
         coalesce((SELECT string_agg(a.attname || ' ' || a.atttypid::regtype::text, ','
                                     ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                   AND NOT a.attisdropped), '') AS x
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public'
  UNION ALL SELECT 'row ' || app || '.' || name || ' ' || applied FROM django_migrations
  UNION ALL SELECT 'tags ' || count(*) FROM taggit_tag) s
"""


def run(*args: str, env: dict[str, str], cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_rehearse_confirms_a_correct_fix_and_withdraws_an_edited_one(request, server, tmp_path):
    on_one_server(request, server)  # the scratch server is the embedded one either way
    site = startproject(tmp_path, "mysite", OVERLAY)
    server.psql("DROP DATABASE IF EXISTS rehearse_src WITH (FORCE)")
    server.psql("CREATE DATABASE rehearse_src")
    env = {**os.environ, "T_DB": "rehearse_src", "T_PW": server.password,
           "T_PORT": str(server.port), "DJANGO_SETTINGS_MODULE": SETTINGS,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    dsn = server.dsn("rehearse_src")
    try:
        assert run(sys.executable, "manage.py", "migrate", env=env, cwd=site).returncode == 0
        server.psql("INSERT INTO taggit_tag (name, slug) VALUES ('a', 'a'); "
                    "DELETE FROM django_migrations WHERE app = 'taggit'", dbname="rehearse_src")
        out = tmp_path / "incident"
        res = run(sys.executable, "-m", "reportgen", "assess", "--dsn", dsn, "--project",
                  str(site), "--django-settings", SETTINGS, "--out", str(out), "--format", "md",
                  env=env, cwd=site)
        assert res.returncode in (0, 1), res.stderr[-2000:]
        a = json.loads((out / "assessment.json").read_text("utf-8"))
        option = next(o for o in a["recovery_options"] if o["recommended"])
        assert option["id"] == "refake_verified"
        before = server.psql(CHECKSUM, dbname="rehearse_src")

        def rehearse(*extra: str) -> subprocess.CompletedProcess[str]:
            return run(sys.executable, "-m", "reportgen", "rehearse", str(out), "--dsn", dsn,
                       "--project", str(site), "--django-settings", SETTINGS, *extra,
                       env=env, cwd=site)

        res = rehearse()
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        assert "rehearsal: confirmed" in res.stdout
        a = json.loads((out / "assessment.json").read_text("utf-8"))
        opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
        r = opt["rehearsal"]
        assert r["outcome"] == "confirmed" and r["file_as_reported"] and opt["recommended"]
        transcript = json.loads((out / "rehearsal.json").read_text("utf-8"))
        assert [s["exit_code"] for s in transcript["steps"]] == [0] * len(transcript["steps"])
        report = (out / "report.md").read_text("utf-8")
        assert "Rehearsed on a copy of the schema" in report and "Appendix E" in report
        assert server.password not in (out / "rehearsal.json").read_text("utf-8") + report
        # Production only read: the same catalog and rows, its records still missing.
        assert server.psql(CHECKSUM, dbname="rehearse_src") == before
        # The same from inside the project: manage.py incident_rehearse, the inspected
        # database from DATABASES.
        res = run(sys.executable, "manage.py", "incident_rehearse", str(out), env=env, cwd=site)
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        assert "rehearsal: confirmed" in res.stdout
        assert server.psql(CHECKSUM, dbname="rehearse_src") == before

        # The fix edited: one record left out. Django still plans it: withdrawn.
        fix = out / r["file"]
        lines = fix.read_text("utf-8").splitlines(keepends=True)
        left_out = next(ln for ln in lines if ln.startswith('("taggit", "0003'))
        fix.write_text("".join(ln for ln in lines if ln != left_out), "utf-8")
        res = rehearse()
        assert res.returncode == 1, res.stdout + res.stderr[-3000:]
        a = json.loads((out / "assessment.json").read_text("utf-8"))
        opt = next(o for o in a["recovery_options"] if o["id"] == "refake_verified")
        r = opt["rehearsal"]
        assert r["outcome"] == "differed" and not r["file_as_reported"]
        assert "taggit.0003" in r["why"] and not opt["recommended"]
        report = (out / "report.md").read_text("utf-8")
        assert "WITHDRAWN after a rehearsal" in report and "EDITED since" in report
        assert server.psql(CHECKSUM, dbname="rehearse_src") == before

        # A scratch database that is the inspected one is refused, before anything runs.
        res = rehearse("--scratch-dsn", dsn)
        assert res.returncode == 2 and "inspected database" in res.stderr
        assert server.psql(CHECKSUM, dbname="rehearse_src") == before
    finally:
        server.psql("DROP DATABASE IF EXISTS rehearse_src WITH (FORCE)")


def test_rehearse_copies_the_catalog_where_pg_dump_would_take_the_lock_table(tmp_path):
    """A server whose shared lock table is small (10 locks per transaction × 20
    connections) and a database with more than half that many tables: pg_dump of the whole
    schema would take them all, so the rehearsal copies the catalog instead (no lock; names
    hostile, a column of the database's own enum type) and the tracker table with pg_dump;
    Django confirms the fix. `reportgen archive` of the rehearsed report carries the
    transcript, listed in the manifest and attached to the PDF."""
    from reportgen.pgserver import LocalServer, available_binaries

    b = available_binaries()[-1]
    with LocalServer(b, settings={"max_locks_per_transaction": "10",
                                  "max_connections": "20"}) as srv:
        srv.psql("CREATE DATABASE locks_src")
        site = startproject(tmp_path, "mysite", OVERLAY)
        env = {**os.environ, "T_DB": "locks_src", "T_PW": srv.password,
               "T_PORT": str(srv.port), "DJANGO_SETTINGS_MODULE": SETTINGS,
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
        dsn = srv.dsn("locks_src")
        assert run(sys.executable, "manage.py", "migrate", env=env, cwd=site).returncode == 0
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('CREATE SCHEMA "bulk"; CREATE TYPE public.mood AS ENUM (\'ok\')')
            conn.execute('CREATE TABLE "bulk"."we""ird<b>$(id)" (m public.mood, x int[])')
            for i in range(110):
                conn.execute(f'CREATE TABLE "bulk".t{i} (id int PRIMARY KEY, v text)'.encode())
            conn.execute("DELETE FROM django_migrations WHERE app = 'taggit'")
        out = tmp_path / "incident"
        res = run(sys.executable, "-m", "reportgen", "assess", "--dsn", dsn, "--project",
                  str(site), "--django-settings", SETTINGS, "--out", str(out), "--format",
                  "md", env=env, cwd=site)
        assert res.returncode in (0, 1), res.stderr[-2000:]
        before = database_checksum(dsn)
        with psycopg.connect(dsn) as conn:
            before_tables = conn.execute(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'bulk')").fetchall()
        assert len(before_tables) * 2 > 10 * 20  # past half the lock table
        res = rehearse(out, dsn, site, "--django-settings", SETTINGS, env=env, cwd=site)
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        transcript = json.loads((out / "rehearsal.json").read_text("utf-8"))
        assert transcript["copy"] == "catalog" and transcript["outcome"] == "confirmed"
        first = transcript["steps"][0]
        assert first["what"].startswith("copy the catalog") and first["exit_code"] == 0
        copied = int(first["output"].split(" table(s)")[0])  # every table but the tracker
        assert copied == len(before_tables) - 1, (copied, len(before_tables))
        assert database_checksum(dsn) == before

        root = tmp_path / "incidents"
        res = run(sys.executable, "-m", "reportgen", "archive", str(out / "evidence.json"),
                  "--root", str(root), "--title", "Rehearsed", env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        (folder,) = [p for p in root.iterdir() if p.is_dir()]
        assert (folder / "rehearsal.json").read_bytes() == (out / "rehearsal.json").read_bytes()
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert "rehearsal.json" in {f["path"] for f in manifest["files"]}
        a = json.loads((folder / "assessment.json").read_text("utf-8"))
        assert any((o.get("rehearsal") or {}).get("outcome") == "confirmed"
                   for o in a["recovery_options"])
        from pypdf import PdfReader

        names = PdfReader(str(folder / "report.pdf")).attachments
        assert "rehearsal.json" in names
        res = run(sys.executable, "-m", "reportgen", "verify", str(folder), env=env)
        assert res.returncode == 0, res.stdout + res.stderr
