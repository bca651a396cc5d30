"""Every command and script the report prints is quoted for where it runs. Names are built
from quotes, $(), backticks, ';', newlines, dots, spaces, fences and mixed case in a real
PostgreSQL; each printed command is split with shlex and run in a real shell, each script
is parsed with PostgreSQL's parser and run, and the outcome is read back from the catalog:
exactly the intended objects, nothing else, and no command of the name's own ever runs."""

from __future__ import annotations

import ast as pyast
import http.server
import os
import re
import shlex
import subprocess
import threading
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pglast import ast, parse_sql
from psycopg import sql

from reportgen.analyze import analyze
from reportgen.analyze.reconcile import fake_sql, record_command
from reportgen.collect.run import collect_bundle
from reportgen.outputs import render_outputs
from reportgen.quoting import (
    SCRIPT_HEADER,
    pg_dump_pattern,
    shell_word,
    sql_comment,
    sql_ident,
    sql_literal,
)
from reportgen.render.view import RenderOptions

FRAGMENTS = ['"', "'", "$(touch pwned)", "`touch pwned`", ";", "\n", ".", " ", "```", "~~~",
             "Mixed", "x", "*", "?", "\\", "$HOME", "#", "|", "&", "--", "/*",
             # outside the Basic Multilingual Plane, right-to-left, combining, a bidi override
             "\U0001f600", "\u05d0\u05e4", "e\u0301", "\u202e"]
names = (st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map("".join)
         .filter(lambda s: len(s.encode()) <= 63))
PROFILE = settings(max_examples=int(os.environ.get("REPORTGEN_PROPERTY_EXAMPLES", "8")),
                   derandomize="REPORTGEN_PROPERTY_RANDOM" not in os.environ, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])


def _run_shell(command: str, cwd: Path, env: dict[str, str]) -> None:
    res = subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=60)
    assert res.returncode == 0, res.stderr


def _tables(dsn: str) -> dict[tuple[str, str], int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rels = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname "
                            "NOT IN ('pg_catalog', 'information_schema')").fetchall()
        return {(s, t): conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(s), sql.Identifier(t))).fetchone()[0] for s, t in rels}


@PROFILE
@given(schema=names, parent=names, child=names, fk=names)
@example(schema="s\U0001f600", parent="\u05d0\u05e4", child="e\u0301x", fk="\u202ek")
def test_selective_repair_commands_restore_exactly_the_lost_tables(server, schema, parent, child,
                                                                    fk, tmp_path_factory):
    if parent == child:
        return
    work = tmp_path_factory.mktemp("cmd")
    prod, restored = f"p{abs(hash((schema, parent, child, fk)))}", None
    server.psql(f"CREATE DATABASE {prod}")
    dsn = server.dsn(prod)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            q = sql.Identifier
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(q(schema)))
            conn.execute(sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY)").format(
                q(schema), q(parent)))
            conn.execute(sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY, p int REFERENCES "
                                 "{}.{})").format(q(schema), q(child), q(schema), q(parent)))
            conn.execute(sql.SQL("CREATE TABLE public.dependent (id int, c int, CONSTRAINT {} "
                                 "FOREIGN KEY (c) REFERENCES {}.{})").format(
                q(fk), q(schema), q(child)))
            conn.execute("CREATE TABLE public.decoy (id int); INSERT INTO decoy VALUES (7)")
            conn.execute(sql.SQL("INSERT INTO {}.{} VALUES (1), (2)").format(q(schema), q(parent)))
            conn.execute(sql.SQL("INSERT INTO {}.{} VALUES (1, 1), (2, 2), (3, 1)").format(
                q(schema), q(child)))
            conn.execute("INSERT INTO public.dependent VALUES (1, 3)")
        before = _tables(dsn)
        baseline = collect_bundle(db_source(dsn), exact_counts=True)
        restored = f"r{prod[1:]}"
        server.psql(f"CREATE DATABASE {restored} TEMPLATE {prod}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE {}.{}, {}.{} CASCADE").format(
                q(schema), q(parent), q(schema), q(child)))
        a = analyze(collect_bundle(db_source(dsn), exact_counts=True), baseline=baseline)
        repair = next(o for o in a.recovery_options if o.id == "selective_repair")
        [command] = repair.commands
        assert (f" -t {shell_word(pg_dump_pattern(schema, parent))} "
                f"-t {shell_word(pg_dump_pattern(schema, child))} ") in command
        # The foreign key CASCADE removed from the dependent table, re-created by the script.
        assert repair.script_file == "foreign-keys.sql"
        for stmt in sql_statements(repair.script or ""):
            if isinstance(stmt, ast.AlterTableStmt):
                assert (stmt.relation.schemaname, stmt.relation.relname) == (
                    "public", "dependent")
        env = {"PATH": f"{server.binaries.bindir}:{os.environ['PATH']}",
               "RESTORED_DSN": server.dsn(restored), "PRODUCTION_DSN": dsn}
        _run_fix(repair, work, env)  # as delivered: fix/option-N.sh beside foreign-keys.sql
        assert not (work / "pwned").exists()
        with psycopg.connect(dsn, autocommit=True) as conn:
            keys = conn.execute("SELECT conname, convalidated FROM pg_constraint "
                                "WHERE conrelid = 'public.dependent'::regclass").fetchall()
        assert keys == [(fk, True)]
        assert _tables(dsn) == before  # every table back with its rows; the rest untouched
    finally:
        for name in (prod, restored):
            if name:
                server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run_fix(option: Any, work: Path, env: dict[str, str]) -> None:
    """The option's files written as render_outputs writes them, and the first one run as
    the report says (bash fix/option-N.sh, from the report's folder), in a real shell."""
    for f in option.files:
        (work / f.name).parent.mkdir(parents=True, exist_ok=True)
        (work / f.name).write_text(f.content)
    assert option.files[0].run.startswith("bash ")
    _run_shell(option.files[0].run, work, env)


def sql_statements(script: str) -> list[Any]:
    """A printed script's SQL statements as PostgreSQL's parser reads them (psql's own
    backslash lines, which the parser does not know, left out)."""
    sql_only = "\n".join(line for line in script.split("\n")
                         if not re.match(r"\\(set|copy) ", line))
    return [s.stmt for s in parse_sql(sql_only)]


def test_every_printed_script_starts_safe_for_a_superuser():
    """The header: psql stops on error, names resolve in pg_catalog only, literals are
    standard and row-level security expressions never run."""
    script = fake_sql([("a", "b")], "public")
    assert script.splitlines()[:4] == list(SCRIPT_HEADER)
    kinds = [type(s).__name__ for s in sql_statements(script)]
    assert kinds[:3] == ["SelectStmt", "VariableSetStmt", "VariableSetStmt"]


def db_source(dsn: str):
    from reportgen.connection import DsnSource

    return DsnSource("--dsn", dsn)


@PROFILE
@given(app=names, name=names)
@example(app="\u05d0\u05e4", name="0001_\U0001f600e\u0301\u202e")
def test_re_record_script_and_commands_write_exactly_their_rows(db, app, name):
    schema = 'x";ROLLBACK;DROP TABLE auth_user CASCADE;--'
    db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}; CREATE TABLE IF NOT EXISTS "
                       "{0}.django_migrations (id serial, app text, name text, applied "
                       "timestamptz); TRUNCATE {0}.django_migrations; CREATE TABLE IF NOT "
                       "EXISTS auth_user (id int)").format(sql.Identifier(schema))
               .as_string(None))
    script = fake_sql([(app, name), ("auth", "0002_x")], schema)
    statements = sql_statements(script)[3:]
    kinds = [type(s).__name__ for s in statements]
    assert kinds == ["TransactionStmt", "InsertStmt", "TransactionStmt"]  # one INSERT, 2 rows
    ins = statements[1]
    assert (ins.relation.schemaname, ins.relation.relname) == (schema, "django_migrations")
    assert len(ins.selectStmt.valuesLists) == 2
    db.server.psql(script, db.name)  # through psql, as printed: its header included
    with psycopg.connect(db.dsn) as conn:
        rows = conn.execute(sql.SQL("SELECT app, name FROM {}.django_migrations ORDER BY id")
                            .format(sql.Identifier(schema))).fetchall()
    assert rows == [(app, name), ("auth", "0002_x")]
    assert db.scalar("SELECT to_regclass('public.auth_user') IS NOT NULL") is True
    words = shlex.split(record_command([(app, name), ("auth", "0002_x")]))
    assert words[:4] == ["python", "manage.py", "shell", "-c"] and len(words) == 5
    lists = [n for n in pyast.walk(pyast.parse(words[4])) if isinstance(n, pyast.List)]
    assert pyast.literal_eval(lists[-1]) == [(app, name), ("auth", "0002_x")]


def test_quoting_helpers_round_trip_through_the_real_tools(db, tmp_path):
    """Invisible characters are printed as escapes the shell and PostgreSQL turn back into
    the exact name (never raw, never lost)."""
    for text in ["rl\u202eo", "zero\u200bwidth", "tab\there", "plain", "new\nline", "q'uo\"te"]:
        out = subprocess.run(["sh", "-c", f"printf '%s' {shell_word(text)}"],
                             capture_output=True, text=True, check=True).stdout
        assert out == text
        assert db.scalar(f"SELECT {sql_literal(text)}") == text
        assert "\u202e" not in shell_word(text) + sql_literal(text) + sql_ident(text)
        # A name in a SQL comment never ends it: what follows is the only statement.
        assert len(parse_sql(sql_comment(f"table {text}: {text}") + "\nSELECT 1")) == 1
        db.execute(f"CREATE TABLE {sql_ident(text)} (id int)")
        assert db.scalar(f"SELECT count(*) FROM pg_class WHERE relname = {sql_literal(text)}") \
            == 1


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Counter.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Counter)
    _Counter.hits = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_a_constraint_name_cannot_break_out_of_the_report(db, tmp_path, web):
    """A foreign-key name holding a newline, a code fence, an image and a link: the report's
    SQL block still holds exactly the script, report.html gets no element from it, and
    rendering the PDF fetches nothing."""
    evil = f"k\n```\n![p]({web}/img.png)\n<img src=\"{web}/raw.png\">"[:63]
    db.execute("CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE dep (p int, CONSTRAINT "
               + sql_ident(evil) + " FOREIGN KEY (p) REFERENCES parent)")
    baseline = collect_bundle(db.source())
    db.execute("DROP TABLE parent CASCADE")
    current = collect_bundle(db.source())
    a = analyze(current, baseline=baseline)
    repair = next(o for o in a.recovery_options if o.id == "selective_repair")
    assert repair.script and sql_ident(evil) in repair.script
    render_outputs(current, a, RenderOptions(), tmp_path, ["md", "html", "pdf"])
    md = (tmp_path / "report.md").read_text("utf-8")
    fences = [t.content for t in MarkdownIt("commonmark").parse(md) if t.type == "fence"]
    assert repair.files and all(repair.script in f.content or f.name.endswith(".sh")
                                for f in repair.files)
    for f in repair.files:  # each file whole in its own block, or named and not printed
        assert (f.content in fences) if f.shown else (f"`{f.name}` has a line longer" in md)
    html = (tmp_path / "report.html").read_text("utf-8")
    assert "<img" not in html and f'src="{web}' not in html and f'href="{web}' not in html
    assert _Counter.hits == []


def test_pdf_fetcher_refuses_everything_but_the_templates(tmp_path, web):
    from reportgen.render.environment import builtin_templates
    from reportgen.render.pdf import local_fetcher

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the pdf")
    fetcher = local_fetcher([builtin_templates()])
    from weasyprint import HTML

    HTML(string=f'<img src="{web}/a.png"><img src="{secret.as_uri()}">'
                f'<link rel="stylesheet" href="{web}/s.css"><img src="data:image/png;base64,AA">'
                f'<p style="font-family: X">x</p>',
         base_url=str(builtin_templates()) + "/", url_fetcher=fetcher).write_pdf(
        tmp_path / "x.pdf")
    assert _Counter.hits == []
    assert {u.split(":")[0] for u in fetcher.refused} >= {"http", "file", "data"}
    ok = fetcher.fetch((builtin_templates() / "fonts" / "DejaVuSans.ttf").as_uri())
    assert ok.read()[:4] == b"\x00\x01\x00\x00"


def _rows(dsn: str, schema: str, table: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchall()


@PROFILE
@given(schema=names, parent=names, child=names, column=names)
@example(schema="s\U0001f600", parent="\u05d0\u05e4", child="e\u0301x", column="c\u202e")
def test_row_and_column_repair_puts_back_exactly_what_was_lost(server, schema, parent, child,
                                                               column, tmp_path_factory):
    """Rows deleted (and those CASCADE deleted from a child), a NOT NULL column dropped: the
    printed commands, run in a real shell, stage the restored copy and put back the missing
    keys and the column's values; a row changed since keeps its new value, and nothing of a
    name's own runs."""
    if parent == child or column in ("id", "label", "g"):
        return
    work = tmp_path_factory.mktemp("repair")
    prod = f"p{abs(hash((schema, parent, child, column, 'rows')))}"
    restored = f"r{prod[1:]}"
    server.psql(f"CREATE DATABASE {prod}")
    dsn = server.dsn(prod)
    q = sql.Identifier
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(q(schema)))
            conn.execute(sql.SQL(
                "CREATE TABLE {}.{} (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label "
                "text, {} text NOT NULL, g int GENERATED ALWAYS AS (id * 2) STORED)").format(
                q(schema), q(parent), q(column)))
            conn.execute(sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY, p int REFERENCES "
                                 "{}.{} ON DELETE CASCADE)").format(
                q(schema), q(child), q(schema), q(parent)))
            conn.execute(sql.SQL("INSERT INTO {}.{} (label, {}) VALUES ('a', 'x1'), ('b', "
                                 "'x2'), ('c', 'x3')").format(q(schema), q(parent), q(column)))
            conn.execute(sql.SQL("INSERT INTO {}.{} VALUES (1, 1), (2, 2), (3, 3)").format(
                q(schema), q(child)))
        baseline = collect_bundle(db_source(dsn), exact_counts=True)
        server.psql(f"CREATE DATABASE {restored} TEMPLATE {prod}")
        want_parent = _rows(dsn, schema, parent)
        want_child = _rows(dsn, schema, child)
        with psycopg.connect(dsn, autocommit=True) as conn:  # the incident, and a later write
            conn.execute(sql.SQL("DELETE FROM {}.{} WHERE id IN (1, 2)").format(
                q(schema), q(parent)))
            conn.execute(sql.SQL("ALTER TABLE {}.{} DROP COLUMN {}").format(
                q(schema), q(parent), q(column)))
            conn.execute(sql.SQL("UPDATE {}.{} SET label = 'changed since' WHERE id = 3")
                         .format(q(schema), q(parent)))
        a = analyze(collect_bundle(db_source(dsn), exact_counts=True), baseline=baseline)
        lost = next(f for f in a.findings if f.id == "data.rows_lost_since_baseline")
        assert {(t.schema_name, t.name) for t in lost.tables} == {(schema, parent),
                                                                  (schema, child)}
        repair = next(o for o in a.recovery_options if o.id == "repair_rows_columns")
        assert repair.script is not None and repair.script_file == "repair.sql"
        env = {"PATH": f"{server.binaries.bindir}:{os.environ['PATH']}",
               "RESTORED_DSN": server.dsn(restored), "PRODUCTION_DSN": dsn}
        _run_fix(repair, work, env)  # as delivered: fix/option-N.sh beside repair.sql
        assert not (work / "pwned").exists()
        # Every row back (the parent before its child), the column back with its values and
        # NOT NULL (added last, so it is the last column), the row changed since kept as is.
        assert want_parent == [(1, "a", "x1", 2), (2, "b", "x2", 4), (3, "c", "x3", 6)]
        assert _rows(dsn, schema, parent) == [(1, "a", 2, "x1"), (2, "b", 4, "x2"),
                                              (3, "changed since", 6, "x3")]
        assert _rows(dsn, schema, child) == want_child
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute(
                "SELECT a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
                "c.relname = %s AND a.attname = %s", [schema, parent, column]
            ).fetchone() == (True,)
            assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE "
                                "'reportgen_repair%'").fetchone() == (0,)
    finally:
        for name in (prod, restored):
            server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_rows_of_a_table_without_primary_key_are_staged_not_guessed(db):
    """Without a baseline, a table the counters show had rows, truncated (no delete counted)
    and count(*) finds empty, is repaired from the copy; one with no primary key is staged
    for the responder to compare, never inserted by a guessed match."""
    db.execute("CREATE TABLE keyed (id int PRIMARY KEY, v text); CREATE TABLE loose (v text);"
               "INSERT INTO keyed VALUES (1, 'a'); INSERT INTO loose VALUES ('a');")
    db.execute("TRUNCATE keyed, loose")
    bundle = collect_bundle(db.source(), exact_counts=True)
    a = analyze(bundle)
    repair = next(o for o in a.recovery_options if o.id == "repair_rows_columns")
    assert repair.subjects == ["public.keyed", "public.loose"]
    # The same evidence, the same files (the staging schema is named from the bundle).
    again = next(o for o in analyze(bundle).recovery_options if o.id == "repair_rows_columns")
    assert [f.sha256 for f in again.files] == [f.sha256 for f in repair.files]
    assert repair.script is not None and '"public"."keyed"' in repair.script
    assert '"public"."loose"' not in repair.script
    assert any("public.loose has no primary key" in s for s in repair.steps)
