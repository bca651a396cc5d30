"""Rehearse a fix before production: the report's fix run on a scratch copy of the schema,
judged by the framework itself.

From the live database, read-only: its schema (``pg_dump --schema-only``, which reads in
one snapshot and takes only ACCESS SHARE locks; where that would take more locks than the
server's shared lock table can spare, reportgen's own catalog copy instead: every table with
its columns, read in one read-only snapshot, no lock taken) and its tracker's rows (``pg_dump``
of that one table). Both are restored into a throwaway server (the embedded PostgreSQL of the
``[demo]`` extra) or into a new database on ``--scratch-dsn`` (refused when it is the
inspected database), the fix file runs there exactly as the report says to run it, and the
framework says what it now sees: Django's ``migrate --plan`` and ``showmigrations`` with the
project's settings pointed at the scratch database; Alembic's ``current`` and ``upgrade
START:head --sql`` with a copy of the project's alembic.ini pointed there (and a probe first:
a version only the scratch database holds must be the one Alembic reads, else nothing runs);
sqitch's ``status`` with SQITCH_TARGET the scratch database. A selective data repair runs with
PRODUCTION_DSN the scratch copy and RESTORED_DSN the copy before the incident (only read), and
each table it repairs is counted against what it promises. The transcript (commands, exit
codes, output, the scratch server's version) is written beside the bundle as
``rehearsal.json``; the assessment's option carries its outcome and digest, and a fix whose
outcome differs from the prediction is no longer recommended.

Production is never written: the only statements sent to it are pg_dump's and reportgen's
own reads in read-only transactions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reportgen.analyze.model import (
    ActionItem,
    Assessment,
    RecoveryOption,
    RehearsalResult,
    RehearsalStep,
)
from reportgen.bundle import EvidenceBundle
from reportgen.connection import DsnSource, describe_target, scrub, secrets_of
from reportgen.errors import InputError, ReportgenError
from reportgen.options import RenderOptions

TRANSCRIPT = "rehearsal.json"
REHEARSABLE = ("refake_verified", "tenant_repair", "selective_repair", "repair_rows_columns")
#: Tenant schemas a rehearsal asks migrate_schemas about (a process each), at most.
TENANT_CHECKS = 100
OUTPUT_TAIL = 4000
STEP_TIMEOUT_S = 600


class ScratchRefused(ReportgenError):
    """The scratch database is the inspected one (or cannot be told apart from it)."""

    exit_code = 2


def pick_option(a: Assessment, number: int | None) -> tuple[int, RecoveryOption]:
    """The option to rehearse: ``number`` as the report numbers them (1-based), else the
    recommended one that can be rehearsed, else the first that can."""
    options = list(enumerate(a.recovery_options, 1))
    if number is not None:
        if not 1 <= number <= len(options):
            raise InputError(f"--option {number}: the report has {len(options)} option(s)")
        n, o = options[number - 1]
    else:
        found = sorted(((n, o) for n, o in options if o.id in REHEARSABLE),
                       key=lambda p: not p[1].recommended)
        if not found:
            raise InputError("nothing to rehearse: the report offers no fix reportgen "
                             "rehearses (re-recording verified migrations: Django's "
                             "MigrationRecorder, Alembic's stamp; a selective data repair)")
        n, o = found[0]
    if o.id not in REHEARSABLE:
        raise InputError(f"option {n} ({o.title}) is not one reportgen rehearses (it "
                         "rehearses re-recording verified migrations: Django's "
                         "MigrationRecorder, Alembic's stamp; and the selective data "
                         "repairs, with --restored-dsn)")
    if not o.files:
        raise InputError(f"option {n} has no fix file to run")
    return n, o


@contextlib.contextmanager
def _read_only(conninfo: str, isolation: str = "") -> Iterator[Any]:
    """A connection in one read-only transaction (``isolation``: e.g. "ISOLATION LEVEL
    REPEATABLE READ"), always rolled back: how a rehearsal reads a database."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10, autocommit=True,
                         application_name="reportgen rehearse") as conn:
        conn.execute(f"BEGIN {isolation} READ ONLY".encode())
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def _identity(conninfo: str) -> dict[str, Any]:
    """Who a connection reaches: the cluster's system identifier (when the role may read
    it), its address and port, the database. One read-only transaction."""
    import psycopg

    with _read_only(conninfo) as conn:
        row = conn.execute(
            "SELECT pg_catalog.current_database(), "
            "pg_catalog.inet_server_addr()::pg_catalog.text, pg_catalog.inet_server_port(), "
            "pg_catalog.current_setting('server_version')").fetchone()
        sysid = None
        with contextlib.suppress(psycopg.Error):
            got = conn.execute(
                "SELECT system_identifier FROM pg_catalog.pg_control_system()").fetchone()
            sysid = str(got[0]) if got else None
    assert row is not None
    return {"database": row[0], "addr": row[1], "port": row[2], "version": row[3],
            "system_identifier": sysid}


def _password(conninfo: str) -> list[str]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        pw = conninfo_to_dict(conninfo).get("password")
    except psycopg.ProgrammingError:  # an unparsable DSN has no password to hide
        return []
    return [str(pw)] if pw else []


def _reach(conninfo: str, target: str, secrets_: list[str]) -> dict[str, Any]:
    """_identity, a connection that fails said in one line (exit 3), no password in it."""
    import psycopg

    from reportgen.connection import explain_connect_error
    from reportgen.errors import ConnectionFailed

    try:
        return _identity(conninfo)
    except psycopg.Error as exc:
        raise ConnectionFailed(scrub(explain_connect_error(exc, target), secrets_)) from None


def same_database(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two identities can be the same database: the same cluster (system identifier
    when both are known, else the same address and port) and the same database name."""
    if a["database"] != b["database"]:
        return False
    if a["system_identifier"] and b["system_identifier"]:
        return bool(a["system_identifier"] == b["system_identifier"])
    return bool((a["addr"], a["port"]) == (b["addr"], b["port"]))


def _env_for(conninfo: str) -> tuple[str, dict[str, str]]:
    """The conninfo without its password, and the environment that carries it (never on a
    command line, where ``ps`` shows it)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(conninfo)
    pw = params.pop("password", None)
    env = {**os.environ}
    if pw:
        env["PGPASSWORD"] = str(pw)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def tail(text: str) -> str:
    """The output's first line (where a tool says what went wrong) and its last
    OUTPUT_TAIL characters from a line's start, what lies between counted."""
    if len(text) <= OUTPUT_TAIL:
        return text
    head = text.split("\n", 1)[0][:400]
    cut = text[-OUTPUT_TAIL:]
    cut = cut[cut.find("\n") + 1:] if "\n" in cut else cut
    return f"{head}\n[... {len(text) - len(head) - len(cut):,} characters ...]\n{cut}"


class Transcript:
    """The rehearsal's steps as run, secrets scrubbed; ``stdout``: the last step's standard
    output alone (what a framework prints as its answer, without its log lines)."""

    def __init__(self, secrets_: list[str]) -> None:
        self.steps: list[RehearsalStep] = []
        self.secrets = [s for s in secrets_ if s]
        self.stdout = ""

    def run(self, what: str, shown: str, argv: list[str] | str, *, cwd: Path | None = None,
            env: dict[str, str] | None = None, stdin: str | None = None) -> RehearsalStep:
        t0 = time.perf_counter()
        self.stdout = ""
        try:
            res = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True,
                                 text=True, timeout=STEP_TIMEOUT_S, shell=isinstance(argv, str),
                                 executable="/bin/bash" if isinstance(argv, str) else None)
            rc, out = res.returncode, (res.stdout + ("\n" if res.stdout and res.stderr else "")
                                      + res.stderr)
            self.stdout = res.stdout
        except subprocess.TimeoutExpired:
            rc, out = -1, f"stopped after {STEP_TIMEOUT_S} s"
        except OSError as exc:
            rc, out = -1, f"could not run it: {exc}"
        step = RehearsalStep(what=what, command=scrub(shown, self.secrets), exit_code=rc,
                             seconds=round(time.perf_counter() - t0, 2),
                             output=scrub(tail(out), self.secrets))
        self.steps.append(step)
        return step


    def run_fix(self, name: str, run: str, path: Path, cwd: Path, env: dict[str, str],
                where: str = "") -> bool:
        """The fix file at ``path`` run with the report's own run line (its name in it made
        that path); ``where``: what the environment points at. Whether it succeeded."""
        self.run(f"run {name} as the report says" + (f" ({where})" if where else ""), run,
                 run.replace(name, shlex.quote(str(path.resolve()))), cwd=cwd, env=env)
        return self.steps[-1].exit_code == 0


@contextlib.contextmanager
def scratch_database(scratch_dsn: str | None, keep: bool, say: Callable[[str], None]
                     ) -> Iterator[tuple[str, str]]:
    """(conninfo of a new, empty scratch database, how it is described). On --scratch-dsn:
    a new database there, dropped afterwards unless ``keep``. Else an embedded server in a
    temporary directory, stopped and removed afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"reportgen_rehearsal_{secrets.token_hex(4)}"
    if scratch_dsn is not None:
        with psycopg.connect(scratch_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_conninfo(scratch_dsn, dbname=name), f"database {name} on --scratch-dsn"
        finally:
            if keep:
                say(f"kept the scratch database {name} (--keep)")
            else:
                with psycopg.connect(scratch_dsn, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)))
        return
    from reportgen.pgserver import LocalServer, available_binaries

    bins = available_binaries()
    if not bins:
        raise InputError("no PostgreSQL server to rehearse on: install reportgen[demo] (the "
                         "embedded server), or give --scratch-dsn")
    with LocalServer(bins[0]) as srv:
        srv.psql(f"CREATE DATABASE {name}")
        yield srv.dsn(name), f"a throwaway embedded server ({bins[0].origin})"


_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _overlay(settings: str, scratch: str, folder: Path) -> str:
    """A settings module that is the project's, with every DATABASES alias pointed at the
    scratch database (whichever alias the fix uses, it cannot reach production; everything
    else as the project has it). Mode 0600: it holds the scratch password."""
    from psycopg.conninfo import conninfo_to_dict

    if not _MODULE.fullmatch(settings):
        raise InputError(f"--django-settings {settings!r}: not a Python module path")
    p = conninfo_to_dict(scratch)
    target = {"NAME": p.get("dbname"), "USER": p.get("user"), "PASSWORD": p.get("password", ""),
              "HOST": p.get("host"), "PORT": str(p.get("port", ""))}
    module = "reportgen_rehearsal_settings"
    path = folder / f"{module}.py"
    path.write_text(
        f"from {settings} import *  # noqa: F401,F403\n"
        f"from {settings} import DATABASES as _PROJECT_DATABASES\n"
        "import copy as _copy\n"
        f"_SCRATCH = {target!r}\n"
        "DATABASES = {_a: {**_c, 'ENGINE': _c.get('ENGINE', 'django.db.backends.postgresql'), "
        "'OPTIONS': {}, **_SCRATCH} for _a, _c in _copy.deepcopy(_PROJECT_DATABASES).items()}\n"
        "DATABASES.setdefault('default', {'ENGINE': 'django.db.backends.postgresql', "
        "'OPTIONS': {}, **_SCRATCH})\n", "utf-8")
    path.chmod(0o600)
    return module


_PLANNED = re.compile(r"^([A-Za-z_][\w]*)\.(\S+)$")


def planned(migrate_plan_output: str) -> list[str]:
    """The migrations ``migrate --plan`` lists (its unindented app.name lines)."""
    return [m[0] for line in migrate_plan_output.splitlines()
            if (m := _PLANNED.match(line.rstrip()))]


#: The frameworks whose fix a rehearsal runs and whose own commands judge it.
FRAMEWORKS = ("django", "alembic", "sqitch")
#: The share of the server's shared lock table pg_dump may take: past it, the catalog copy.
LOCK_SHARE = 2
PROBE = "reportgen_rehearsal_probe"
#: Tables the catalog copy creates per transaction (fewer commits; locks within any lock table).
CATALOG_BATCH = 500


#: The tables of a database's own schemas (what pg_dump would lock, what the catalog copy
#: creates): ``c`` pg_class, ``n`` pg_namespace.
USER_TABLES = """c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::pg_catalog."char"[])
  AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp)'"""


def _prod_facts(conninfo: str) -> dict[str, int]:
    """How many tables pg_dump would lock, and how many locks the server's shared lock
    table holds (max_locks_per_transaction × (max_connections + max_prepared_transactions)).
    One read-only transaction, catalog reads only."""
    with _read_only(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c JOIN "
            "pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
            f"WHERE {USER_TABLES}),"
            " pg_catalog.current_setting('max_locks_per_transaction')::pg_catalog.int8 "
            "OPERATOR(pg_catalog.*) (pg_catalog.current_setting('max_connections')"
            "::pg_catalog.int8 OPERATOR(pg_catalog.+) pg_catalog.current_setting("
            "'max_prepared_transactions')::pg_catalog.int8)").fetchone()
    assert row is not None
    return {"tables": int(row[0]), "lock_slots": int(row[1])}


CATALOG_TABLES = f"""
SELECT c.oid::pg_catalog.int8, n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE {USER_TABLES}
ORDER BY 2, 3
"""
CATALOG_COLUMNS = """
SELECT a.attrelid::pg_catalog.int8, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
       AND (t.typelem OPERATOR(pg_catalog.=) 0 OR e.typnamespace OPERATOR(pg_catalog.=)
            'pg_catalog'::pg_catalog.regnamespace)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
LEFT JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::pg_catalog."char"[])
  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
ORDER BY 1, a.attnum
"""


def catalog_copy(conninfo: str, skip: set[tuple[str | None, str]]) -> tuple[str, int]:
    """reportgen's own copy of the schema, for where pg_dump cannot run: every schema and
    every table with its columns (a type of the database's own, an enum or a domain, becomes
    text), read in one read-only snapshot from the catalog (no table is locked). No
    constraint, index, default, view or row: enough for a framework that reads its tracker
    only. ``skip``: tables pg_dump copies with their own definition (the tracker, a data
    repair's tables; a schema-less name is public's). Every name
    is quoted (a name is the database's input). Returns (SQL, tables)."""
    from reportgen.quoting import sql_ident, sql_qualified

    with _read_only(conninfo, "ISOLATION LEVEL REPEATABLE READ") as conn:
        tables = conn.execute(CATALOG_TABLES.encode()).fetchall()
        columns: dict[int, list[str]] = {}
        for oid, name, typ, builtin in conn.execute(CATALOG_COLUMNS):
            columns.setdefault(oid, []).append(
                f"{sql_ident(name)} {typ if builtin else 'pg_catalog.text'}")
    lines = ["-- reportgen's catalog copy: tables and columns only (no constraint, index, "
             "default, view or row).", "SET standard_conforming_strings = on;",
             "SELECT pg_catalog.set_config('search_path', '', false);"]
    lines += [f"CREATE SCHEMA IF NOT EXISTS {sql_ident(s)};"
              for s in sorted({s for _, s, _ in tables})]
    n = 0
    for oid, schema, name in tables:
        if (schema, name) in skip or (schema == "public" and (None, name) in skip):
            continue
        if n % CATALOG_BATCH == 0:  # a transaction per batch: each CREATE holds a lock
            lines.append("COMMIT;\nBEGIN;" if n else "BEGIN;")
        lines.append(f"CREATE TABLE {sql_qualified(schema, name)} ("
                     + ", ".join(columns.get(oid, [])) + ");")
        n += 1
    if n:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n", n


def url(conninfo: str, scheme: str) -> str:
    """The database a conninfo reaches as a ``scheme://user:password@host:port/dbname`` URL,
    every part percent-encoded."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    return (f"{scheme}://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/"
            f"{quote(str(p.get('dbname', '')), safe='')}")


def _scratch_url(scratch: str, original: str | None) -> str:
    """A SQLAlchemy URL for the scratch database, with the project's own PostgreSQL driver
    when its alembic.ini names one (else psycopg 3, which reportgen itself uses)."""
    scheme = (original or "").split("://", 1)[0].strip()
    return url(scratch, scheme if scheme.startswith("postgresql") else "postgresql+psycopg")


_URL_LINE = re.compile(r"(?m)^(sqlalchemy\.url\s*[=:]\s*)(.*)$")


def shadow_project(project: Path, config: str, url: str, where: Path) -> Path:
    """A folder that is the project as Alembic sees it (every entry a link to the
    project's own) except its alembic.ini, a copy whose sqlalchemy.url is the scratch
    database's (mode 0600: it holds the scratch password). The fix runs there as printed
    (``alembic -c alembic.ini ...`` from the project's folder)."""
    shadow = where / "project"
    rel = Path(config)
    src = project / rel
    text = src.read_text("utf-8")
    original = m[2] if (m := _URL_LINE.search(text)) else None
    line = _scratch_url(url, original).replace("%", "%%")
    text = _URL_LINE.sub(lambda m: m[1] + line, text) if original is not None else \
        re.sub(r"(?m)^\[alembic\]\s*$", lambda m: f"{m[0]}\nsqlalchemy.url = {line}", text)
    here, mirror = project, shadow
    for part in rel.parts:  # down to the config: real folders, everything else a link
        mirror.mkdir(parents=True, exist_ok=True)
        for entry in here.iterdir():
            if entry.name != part:
                (mirror / entry.name).symlink_to(entry.resolve())
        here, mirror = here / part, mirror / part
    target = shadow / rel
    target.write_text(text, "utf-8")
    target.chmod(0o600)
    return shadow


def rehearse(report: Path, bundle: EvidenceBundle, a: Assessment, source: DsnSource, *,
             project: Path, settings: str | None = None, option: int | None = None,
             scratch_dsn: str | None = None, restored_dsn: str | None = None,
             keep: bool = False, say: Callable[[str], None] = lambda _: None) -> Assessment:
    """Run the option's fix on a scratch copy and return the assessment with its outcome
    (a fix that did not do what the report predicted is no longer recommended)."""
    from reportgen.analyze.framework import framework_of, tracked

    t0, started = time.perf_counter(), datetime.now(UTC)
    # First of all: where it would run. Never the inspected database.
    prod = _reach(source.conninfo, describe_target(source), secrets_of(source))
    if scratch_dsn is not None and same_database(prod, _reach(
            scratch_dsn, "--scratch-dsn", [*secrets_of(source), *_password(scratch_dsn)])):
        raise ScratchRefused("--scratch-dsn reaches the inspected database itself: a "
                             "rehearsal never runs a fix there; give another database or "
                             "server (or none: an embedded server is started)")
    if bundle.identity is not None and prod["database"] != bundle.identity.current_database:
        raise InputError(f"the DSN reaches database {prod['database']!r}, the report is of "
                         f"{bundle.identity.current_database!r}: rehearse with the report's "
                         "own database")
    if settings is not None and not _MODULE.fullmatch(settings):
        raise InputError(f"--django-settings {settings!r}: not a Python module path")
    n, opt = pick_option(a, option)
    data = opt.id in DATA_REPAIRS
    fw = framework_of(bundle)
    if data:
        if restored_dsn is None:
            raise InputError(f"option {n} repairs data from a copy taken before the incident: "
                             "give that copy with --restored-dsn (it is only read)")
        if same_database(prod, _reach(restored_dsn, "--restored-dsn",
                                      [*secrets_of(source), *_password(restored_dsn)])):
            raise ScratchRefused("--restored-dsn reaches the inspected database itself: give "
                                 "the copy taken before the incident")
    elif opt.id == "tenant_repair" and not settings:
        raise InputError("--django-settings is needed to rehearse a tenant repair (the "
                         "project's settings module; its database is pointed at the scratch "
                         "copy)")
    elif fw.key not in FRAMEWORKS:
        raise InputError(f"reportgen rehearses Django's and Alembic's fixes; this report's "
                         f"framework is {fw.name}: run its fix on a copy by hand")
    elif fw.key == "django" and not settings:
        raise InputError("--django-settings is needed to rehearse a Django fix (the "
                         "project's settings module; its database is pointed at the scratch "
                         "copy)")
    f = next((x for x in opt.files if x.name.endswith((".py", ".sh"))), opt.files[0])
    path = report / f.name
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the fix file ({exc.strerror})") from None
    sha = hashlib.sha256(body).hexdigest()
    from reportgen.pgserver import available_binaries

    bins = available_binaries()
    if not bins:
        raise InputError("no pg_dump to copy the schema with: install reportgen[demo] (the "
                         "embedded server's binaries)")
    bindir = bins[0].bindir
    tr = tracked(bundle)
    tracker = (tr.schema_name, fw.tracker)
    full: list[Table] = [tracker] if tr.table_present else []
    if fw.key == "sqitch":  # its registry: every table of its schema (changes, projects, ...)
        full = [(r.schema_name, r.name) for r in
                (bundle.inventory.relations if bundle.inventory else [])
                if r.schema_name == tr.schema_name and r.kind in ("table", "partitioned table")]
    schemas = bundle.migrations.schemas if bundle.migrations else None
    if opt.id == "tenant_repair" and schemas is not None:  # every schema's tracker, the tenants
        full = [(t.schema_name, "django_migrations") for t in schemas.trackers
                if t.table_present]
        tt = schemas.tenant_table
        full += [(r.schema_name, r.name) for r in
                 (bundle.inventory.relations if bundle.inventory else [])
                 if tt is not None and f"{r.schema_name}.{r.name}" == tt.table]
    if data:
        assert restored_dsn is not None
        # The tables it copies back reference tables production has (their parents, as the
        # restored copy defines them): those rows too, or the copied tables' foreign keys fail.
        live = set(_live(bundle))
        whole: list[Table] = [(p.schema_name, p.name) for p in opt.predicted_rows or []
                              if p.rows == "whole"]
        parents = [t for t in _with_parents(restored_dsn, whole) if t in live]
        full += [t for t in _with_parents(source.conninfo, [*_present(bundle, opt), *parents])
                 if t not in full]
    facts = _prod_facts(source.conninfo)
    by_catalog = facts["tables"] * LOCK_SHARE > facts["lock_slots"]
    log: Transcript | None = None
    with tempfile.TemporaryDirectory(prefix="reportgen-rehearse-") as tmp, \
            scratch_database(scratch_dsn, keep, say) as (scratch, where):
        from psycopg.conninfo import conninfo_to_dict

        log = Transcript([*secrets_of(source), *_password(restored_dsn or ""),
                          str(conninfo_to_dict(scratch).get("password") or "")])
        work = Path(tmp)
        rows = ("the tracker and the repaired tables (and those they reference)" if data
                else "every schema's django_migrations and the tenant table"
                if opt.id == "tenant_repair"
                else "sqitch's registry" if fw.key == "sqitch" else "the tracker")
        copied = _copy(log, bindir, source, scratch, work, full, by_catalog, facts, where,
                       say, rows)
        judged: Judged | None = None
        counts: list[Count] | None = None
        if copied:
            say(f"running {f.name} there, as the report says: {f.run}")
            if data:
                assert restored_dsn is not None
                counts = _data_repair(log, opt, f.name, f.run, report, scratch, restored_dsn,
                                      work, bindir)
            elif opt.id == "tenant_repair":
                assert settings is not None
                judged = _tenants(log, opt, f.name, f.run, path, project, settings, scratch,
                                  work)
            elif fw.key == "django":
                assert settings is not None
                judged = _django(log, f.name, f.run, path, project, settings, scratch, work)
            elif fw.key == "sqitch":
                judged = _sqitch(log, f.name, f.run, path, project, scratch, work)
            else:
                cb = bundle.codebase
                config = cb.config if cb is not None and cb.config else "alembic.ini"
                judged = _alembic(log, f.name, f.run, path, project, config, scratch, work,
                                  tracker)
        version = _identity(scratch)["version"]
    outcome, why = _judge_counts(log, counts, copied) if data else \
        _judge(log, opt, judged, copied)
    doc = {"bundle_digest": bundle.digest, "option": n, "option_id": opt.id,
           "framework": fw.name, "file": f.name, "file_sha256": sha,
           "file_as_reported": sha == f.sha256,
           "copy": "catalog" if by_catalog else "pg_dump",
           "scratch": f"{where}, PostgreSQL {version}", "started_at":
           started.isoformat(), "outcome": outcome, "why": why,
           "predicted_unapplied": opt.predicted_unapplied,
           "predicted_heads": opt.predicted_heads,
           "planned": judged.planned if judged else None,
           "heads": judged.heads if judged else None,
           "counts": [c.__dict__ for c in counts] if counts is not None else None,
           "steps": [s.model_dump() for s in log.steps]}
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    data_ = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    from reportgen.fileio import write_atomic

    write_atomic(report / TRANSCRIPT, data_)
    return with_rehearsal(a, n, _result(doc, data_))


DATA_REPAIRS = ("selective_repair", "repair_rows_columns")


def _live(bundle: EvidenceBundle) -> list[Table]:
    return [(r.schema_name, r.name) for r in
            (bundle.inventory.relations if bundle.inventory else [])]


def _present(bundle: EvidenceBundle, opt: RecoveryOption) -> list[Table]:
    """The repair's tables that production has (their rows are copied to the scratch)."""
    live = set(_live(bundle))
    return [(p.schema_name, p.name) for p in opt.predicted_rows or []
            if (p.schema_name, p.name) in live]


PARENTS = """
WITH RECURSIVE t(oid) AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
    ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  JOIN ROWS FROM (pg_catalog.unnest(%s::pg_catalog.text[]),
                  pg_catalog.unnest(%s::pg_catalog.text[])) AS w(s, t)
    ON n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) w.s
   AND c.relname::pg_catalog.text OPERATOR(pg_catalog.=) w.t
  UNION
  SELECT k.confrelid FROM pg_catalog.pg_constraint k JOIN t
    ON k.conrelid OPERATOR(pg_catalog.=) t.oid
  WHERE k.contype OPERATOR(pg_catalog.=) 'f')
SELECT n.nspname, c.relname FROM t JOIN pg_catalog.pg_class c
  ON c.oid OPERATOR(pg_catalog.=) t.oid JOIN pg_catalog.pg_namespace n
  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace ORDER BY 1, 2
"""


def _with_parents(conninfo: str, tables: list[Table]) -> list[Table]:
    """The tables and every table their foreign keys reference, and theirs (so the copied
    rows keep their constraints): one read-only query on the catalog."""
    if not tables:
        return []
    with _read_only(conninfo) as conn:
        rows = conn.execute(PARENTS.encode(), [[s or "public" for s, _ in tables],
                                               [t for _, t in tables]]).fetchall()
    return [(str(s), str(t)) for s, t in rows]


class Count:
    """One table of a data repair, counted: before the fix, what the report's repair
    promises (from the restored copy), after it."""

    def __init__(self, schema: str, name: str, rows: str, before: int | None,
                 expected: int | None, columns: list[str]) -> None:
        self.schema, self.name, self.rows = schema, name, rows
        self.before, self.expected = before, expected
        self.after: int | None = None
        self.columns = columns
        self.missing_columns: list[str] = []


def _count(conn: Any, schema: str, name: str) -> int | None:
    import psycopg

    from reportgen.quoting import sql_qualified

    try:
        with conn.transaction():
            row = conn.execute(f"SELECT pg_catalog.count(*) FROM "
                               f"{sql_qualified(schema, name)}".encode()).fetchone()
    except psycopg.Error:  # a table that is not there has no count
        return None
    return int(row[0])


def _keys(conn: Any, schema: str, name: str, key: list[str]) -> set[tuple[str, ...]]:
    from reportgen.quoting import sql_ident, sql_qualified

    cols = ", ".join(f"{sql_ident(k)}::pg_catalog.text" for k in key)
    with conn.transaction():
        return {tuple(r) for r in conn.execute(
            f"SELECT {cols} FROM {sql_qualified(schema, name)}".encode())}


def _data_repair(log: Transcript, opt: RecoveryOption, name: str, run: str, report: Path,
                 scratch: str, restored: str, work: Path, bindir: Path) -> list[Count] | None:
    """The repair's files (as they are in the report folder) run beside themselves in a
    work folder, PRODUCTION_DSN the scratch copy and RESTORED_DSN the copy before the
    incident (only read); each table counted before, promised, after."""
    import psycopg

    t0 = time.perf_counter()
    counts: list[Count] = []
    lines = []
    with psycopg.connect(scratch, autocommit=True) as sc, \
            psycopg.connect(restored, autocommit=True) as rc:
        rc.execute("SET default_transaction_read_only = on")
        for p in opt.predicted_rows or []:
            before = _count(sc, p.schema_name, p.name)
            expected: int | None
            if p.rows == "whole":
                expected = _count(rc, p.schema_name, p.name)
            elif p.rows == "missing_keys" and p.key and before is not None:
                try:
                    expected = len(_keys(sc, p.schema_name, p.name, p.key)
                                   | _keys(rc, p.schema_name, p.name, p.key))
                except psycopg.Error:
                    expected = None
            else:
                expected = before
            counts.append(Count(p.schema_name, p.name, p.rows, before, expected, p.columns))
            lines.append(f"{p.schema_name}.{p.name}: {before} row(s) now, {expected} promised "
                         f"({p.rows})")
    log.steps.append(RehearsalStep(
        what="count the repaired tables (scratch copy; restored copy, read-only)",
        command="SELECT count(*) / the primary keys of each repaired table", exit_code=0,
        seconds=round(time.perf_counter() - t0, 2), output=scrub("\n".join(lines),
                                                                  log.secrets)))
    folder = work / "report"
    for f in opt.files:  # beside each other, as the report folder has them
        src, dst = report / f.name, folder / f.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    env = {**os.environ, "PRODUCTION_DSN": scratch, "RESTORED_DSN": restored,
           "PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")])}
    if not log.run_fix(name, run, folder / name, folder, env, "PRODUCTION_DSN: the scratch "
                       "copy; RESTORED_DSN: the copy before the incident, only read"):
        return None
    t0 = time.perf_counter()
    lines = []
    with psycopg.connect(scratch, autocommit=True) as sc:
        for c in counts:
            c.after = _count(sc, c.schema, c.name)
            have = {r[0] for r in sc.execute(
                "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid "
                "OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%s) AND a.attnum "
                "OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
                [_regclass(c.schema, c.name)])}
            c.missing_columns = [x for x in c.columns if x not in have]
            lines.append(f"{c.schema}.{c.name}: {c.after} row(s) after the repair, "
                         f"{c.expected} promised")
    log.steps.append(RehearsalStep(
        what="count the repaired tables after the repair (scratch copy)",
        command="SELECT count(*) of each repaired table", exit_code=0,
        seconds=round(time.perf_counter() - t0, 2),
        output=scrub("\n".join(lines), log.secrets)))
    return counts


def _regclass(schema: str, name: str) -> str:
    """A name to_regclass reads as exactly this table (each part double-quoted)."""
    def q(x: str) -> str:
        return '"' + x.replace('"', '""') + '"'
    return f"{q(schema)}.{q(name)}"


def _failed(log: Transcript) -> RehearsalStep | None:
    """The first step that failed (not one another way replaced, not a tool's answer)."""
    return next((s for s in log.steps
                 if s.exit_code != 0 and not s.superseded and not s.answer), None)


def _failure(log: Transcript, copied: bool) -> tuple[str, str] | None:
    """The outcome when a step failed: the copy, or the fix or a framework's command."""
    failed = _failed(log)
    if failed is None:
        return None
    if not copied:
        return "failed", (f"the scratch copy could not be made ({failed.what}: exit "
                          f"{failed.exit_code}); nothing was rehearsed")
    last = failed.output.strip().splitlines()[-1:] or [""]
    return "failed", f"{failed.what} stopped with exit {failed.exit_code}: {last[0]}"


def _judge_counts(log: Transcript, counts: list[Count] | None, copied: bool
                  ) -> tuple[str, str]:
    stopped = _failure(log, copied)
    if stopped is not None:
        return stopped
    assert counts is not None
    unknown = [f"{c.schema}.{c.name}" for c in counts if c.expected is None]
    wrong = [f"{c.schema}.{c.name} has {c.after} row(s), {c.expected} promised"
             for c in counts if c.expected is not None and c.after != c.expected]
    wrong += [f"{c.schema}.{c.name} lacks {', '.join(c.missing_columns)}" for c in counts
              if c.missing_columns]
    if wrong:
        return "differed", "after the repair " + "; ".join(wrong)
    done = ", ".join(f"{c.schema}.{c.name} {c.after}" for c in counts)
    if unknown:
        return "differed", (f"the restored copy could not say what {', '.join(unknown)} "
                            f"should hold; the others hold what was promised ({done})")
    return "confirmed", f"after the repair every table holds the rows promised ({done})"


def _result(doc: dict[str, Any], data: bytes) -> RehearsalResult:
    return RehearsalResult(
        outcome=doc["outcome"], why=doc["why"], transcript=TRANSCRIPT,
        transcript_sha256=hashlib.sha256(data).hexdigest(), file=doc["file"],
        file_sha256=doc["file_sha256"], file_as_reported=doc["file_as_reported"],
        scratch=doc["scratch"], seconds=doc["seconds"],
        steps=[RehearsalStep.model_validate(s) for s in doc["steps"]])


def with_transcript(a: Assessment, bundle: EvidenceBundle, data: bytes, source: str
                    ) -> Assessment:
    """The assessment with a rehearsal transcript's outcome on its option (``archive`` of a
    rehearsed report). Refused, one line, when the transcript is of another bundle or its
    option is not this assessment's."""
    try:
        doc = json.loads(data)
        n, oid = int(doc["option"]), str(doc["option_id"])
        result = _result(doc, data)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: not a rehearsal transcript reportgen wrote ({exc})"
                         ) from None
    if doc.get("bundle_digest") != bundle.digest:
        raise InputError(f"{source}: the rehearsal is of another evidence bundle; rehearse "
                         "this one again (reportgen rehearse)")
    if not 1 <= n <= len(a.recovery_options) or a.recovery_options[n - 1].id != oid:
        raise InputError(f"{source}: its option {n} ({oid}) is not this assessment's option "
                         f"{n}; rehearse this report again")
    return with_rehearsal(a, n, result)


class Judged:
    """What the framework said after the fix: what it would still run (in its order), and
    (Alembic, sqitch) where it stands (``shows``: how that is said; ``runs``: how what it
    would run is said); ``note``: what it could not be asked."""

    def __init__(self, planned: list[str], heads: list[str] | None = None,
                 note: str = "", shows: str = "`alembic current` shows",
                 runs: str = "`alembic upgrade` would run",
                 tenants: list[str] | None = None) -> None:
        self.planned, self.heads, self.note = planned, heads, note
        self.shows, self.runs = shows, runs
        #: Tenant repair: what differed, tenant by tenant (empty: nothing).
        self.tenants = tenants


Table = tuple[str | None, str]


def _copy(log: Transcript, bindir: Path, source: DsnSource, scratch: str, work: Path,
          full: list[Table], by_catalog: bool, facts: dict[str, int], where: str,
          say: Callable[[str], None], rows: str = "the tracker") -> bool:
    """The schema, and the rows of the ``full`` tables (the tracker; a data repair's tables
    and the tables their foreign keys reference), read-only from production into the scratch
    database (``rows``: what they are, as the transcript says it). Returns whether every step
    succeeded."""
    import psycopg

    from reportgen.quoting import pg_dump_pattern

    prod_info, prod_env = _env_for(source.conninfo)
    scratch_info, scratch_env = _env_for(scratch)
    target = describe_target(source)
    patterns = [w for t in full for w in ("-t", pg_dump_pattern(*t))]
    shown = " ".join(patterns[:6]) + (f" ... ({len(full)} tables)" if len(full) > 3 else "")
    dump = [str(bindir / "pg_dump"), "--no-owner", "--no-privileges",
            "--lock-wait-timeout=10s"]
    parts: list[str] = []
    if not by_catalog:
        say(f"copying the schema of {target} (pg_dump, read-only) into {where}")
        schema = log.run("copy the schema (read-only)",
                         f"pg_dump --schema-only --no-owner --no-privileges {target}",
                         [*dump, "--schema-only", "-f", str(work / "schema.sql"), "-d",
                          prod_info], env=prod_env)
        if schema.exit_code == 0:
            parts.append("schema.sql")
            if full:
                # Triggers (foreign keys among them) off while the rows load, in any order.
                log.run(f"copy the rows of {rows} (read-only)",
                        f"pg_dump --data-only --disable-triggers {shown} {target}",
                        [*dump, "--data-only", "--disable-triggers", *patterns, "-f",
                         str(work / "rows.sql"), "-d", prod_info], env=prod_env)
                parts.append("rows.sql")
        else:  # e.g. a schema the role may not read: the catalog shows it all the same
            schema.superseded = True
            say("pg_dump could not copy the schema; copying the catalog instead")
    if by_catalog or not parts:
        if by_catalog:
            say(f"copying the catalog of {target} (read-only, no lock: its {facts['tables']} "
                f"tables would take more than half of the server's {facts['lock_slots']} "
                f"lock slots with pg_dump) into {where}")
        t0 = time.perf_counter()
        try:
            text, n = catalog_copy(source.conninfo, set(full))
            (work / "catalog.sql").write_text(text, "utf-8")
            rc, out = 0, f"{n} table(s) with their columns"
        except (psycopg.Error, OSError) as exc:  # recorded in the transcript, judged below
            rc, out = 1, f"{type(exc).__name__}: {exc}"
        why = (f"{facts['tables']} tables > {facts['lock_slots']} lock slots / {LOCK_SHARE}"
               if by_catalog else "pg_dump refused")
        log.steps.append(RehearsalStep(
            what="copy the catalog (read-only, no lock): tables and columns",
            command=f"reportgen catalog copy of {target} ({why})",
            exit_code=rc, seconds=round(time.perf_counter() - t0, 2),
            output=scrub(out, log.secrets)))
        parts.append("catalog.sql")
        if full:
            log.run(f"copy {rows} whole, with their rows (read-only)", f"pg_dump {shown} {target}",
                    [*dump, *patterns, "-f", str(work / "rows.sql"), "-d", prod_info],
                    env=prod_env)
            parts.append("rows.sql")
    if _failed(log) is not None:
        return False
    for part in parts:
        log.run(f"restore {part} into the scratch database",
                f"psql -X -v ON_ERROR_STOP=1 -f {part} (scratch)",
                [str(bindir / "psql"), "-X", "-q", "-o", os.devnull, "-v", "ON_ERROR_STOP=1",
                 "-f", str(work / part), "-d", scratch_info],
                env={**scratch_env, "PGOPTIONS": "-c client_min_messages=warning"})
    return _failed(log) is None


def _base_env(work: Path, project: Path) -> dict[str, str]:
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(work), str(project),
                                           os.environ.get("PYTHONPATH", "")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                     os.environ.get("PATH", "")])}


def _django(log: Transcript, name: str, run: str, path: Path, project: Path, settings: str,
            scratch: str, work: Path) -> Judged | None:
    overlay = _overlay(settings, scratch, work)
    env = {**_base_env(work, project), "DJANGO_SETTINGS_MODULE": overlay}
    if not log.run_fix(name, run, path, project, env):
        return None
    show = log.run("ask Django: showmigrations", "python manage.py showmigrations --list",
                   [sys.executable, "manage.py", "showmigrations", "--list"], cwd=project,
                   env=env)
    plan = log.run("ask Django: migrate --plan", "python manage.py migrate --plan",
                   [sys.executable, "manage.py", "migrate", "--plan"], cwd=project, env=env)
    if show.exit_code != 0 or plan.exit_code != 0:
        return None
    return Judged(planned(plan.output))


def unapplied(showmigrations: str) -> list[str]:
    """The migrations ``showmigrations --list`` marks unapplied (``[ ]``), as app.name."""
    out, app = [], ""
    for line in showmigrations.splitlines():
        if line and not line[0].isspace():
            app = line.strip()
        elif (m := re.match(r"\s+\[ \]\s+(\S+)", line)) and app:
            out.append(f"{app}.{m[1]}")
    return out


def _tenants(log: Transcript, opt: RecoveryOption, name: str, run: str, path: Path,
             project: Path, settings: str, scratch: str, work: Path) -> Judged | None:
    """The tenant repair (Django's recorder on each tenant's schema, or migrate_schemas for
    it) with every alias pointed at the scratch copy; judged tenant by tenant by Django's
    showmigrations on that schema (django-tenants' tenant_command): what it still lists
    unapplied must be what the report left for a decision there, nothing else."""
    overlay = _overlay(settings, scratch, work)
    env = {**_base_env(work, project), "DJANGO_SETTINGS_MODULE": overlay}
    if not log.run_fix(name, run, path, project, env):
        return None
    predicted = opt.predicted_tenants or {}
    asked = sorted(predicted)[:TENANT_CHECKS]
    differs: list[str] = []
    for schema in asked:
        shown = log.run(f"ask Django: showmigrations on {schema}",
                        "python manage.py tenant_command showmigrations --list "
                        f"--schema={shlex.quote(schema)}",
                        [sys.executable, "manage.py", "tenant_command", "showmigrations",
                         "--list", f"--schema={schema}"], cwd=project, env=env)
        if shown.exit_code != 0:
            return None
        left, want = sorted(unapplied(log.stdout)), sorted(predicted[schema])
        if left != want:
            differs.append(f"{schema} still lists {', '.join(left) or 'nothing'} unapplied, "
                           f"the report predicted {', '.join(want) or 'nothing'}")
    note = (f"{len(asked)} of {len(predicted)} tenants asked" if len(asked) < len(predicted)
            else "")
    return Judged([], None, note=note, tenants=differs)


def _sqitch(log: Transcript, name: str, run: str, path: Path, project: Path, scratch: str,
            work: Path) -> Judged | None:
    """sqitch's fix names its target as ``"$SQITCH_TARGET"`` (sqitch's own variable): here
    the scratch copy. Judged by ``sqitch status`` on it."""
    target = "db:" + url(scratch, "pg")
    env = {**_base_env(work, project), "SQITCH_TARGET": target,
           "SQITCH_FULLNAME": os.environ.get("SQITCH_FULLNAME", "reportgen rehearsal"),
           "SQITCH_EMAIL": os.environ.get("SQITCH_EMAIL", "rehearsal@localhost")}
    if not log.run_fix(name, run, path, project, env, "SQITCH_TARGET: the scratch copy"):
        return None
    st = log.run("ask sqitch: status", 'sqitch status "$SQITCH_TARGET"',
                 ["sqitch", "status", target], cwd=project, env=env)
    if st.exit_code != 0:
        return None
    out = log.stdout
    head = re.findall(r"(?m)^# Name:\s+(\S+)", out)
    undeployed = re.findall(r"(?m)^\s+\*\s+(\S+)", out.split("Undeployed changes:", 1)[1]) \
        if "Undeployed changes:" in out else []
    return Judged(undeployed, head, shows="`sqitch status` shows change",
                  runs="`sqitch deploy` would run")


def _alembic(log: Transcript, name: str, run: str, path: Path, project: Path, config: str,
             scratch: str, work: Path, tracker: tuple[str | None, str]) -> Judged | None:
    """The stamp run from a shadow of the project whose alembic.ini points at the scratch
    database, after a probe proves that is the database Alembic reads."""
    import psycopg

    from reportgen.quoting import sql_qualified

    try:
        shadow = shadow_project(project, config, scratch, work)
    except OSError as exc:
        log.steps.append(RehearsalStep(
            what="point a copy of the project's Alembic configuration at the scratch database",
            command=f"copy {config} with sqlalchemy.url = (scratch)", exit_code=1,
            seconds=0.0, output=f"cannot read {config}: {exc.strerror}"))
        return None
    url = _scratch_url(scratch, None)
    env = {**_base_env(work, shadow), "DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", config]
    table = sql_qualified(tracker[0] or "public", tracker[1])
    # The probe: a version only the scratch copy holds. Alembic must name it, else the
    # project's env.py reads its URL from somewhere else and nothing may run.
    with psycopg.connect(scratch, autocommit=True) as conn, conn.transaction():
        created = conn.execute("SELECT pg_catalog.to_regclass(%s) IS NULL",
                               [table]).fetchone() == (True,)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (version_num varchar(32) NOT NULL "
                     "PRIMARY KEY)".encode())
        saved = [r[0] for r in conn.execute(f"SELECT version_num FROM {table}".encode())]
        conn.execute(f"DELETE FROM {table}".encode())
        conn.execute(f"INSERT INTO {table} VALUES (%s)".encode(), [PROBE])
    probe = log.run("probe: does Alembic read the scratch copy?",
                    f"alembic -c {config} current (a version only the scratch copy holds)",
                    [*alembic, "current"], cwd=shadow, env=env)
    reached = PROBE in probe.output
    with psycopg.connect(scratch, autocommit=True) as conn, conn.transaction():
        conn.execute(f"DELETE FROM {table}".encode())
        for v in saved:
            conn.execute(f"INSERT INTO {table} VALUES (%s)".encode(), [v])
        if created:  # production has none: neither does the copy again
            conn.execute(f"DROP TABLE {table}".encode())
    probe.answer = True  # `alembic current` cannot locate the probe version: expected
    log.steps.append(RehearsalStep(
        what="probe verdict", command="(reportgen: the probe version in Alembic's answer?)",
        exit_code=0 if reached else 1, seconds=0.0,
        output="the scratch copy's probe version was read: Alembic reaches the scratch "
               "database" if reached else
               "the probe version was NOT read: the project's env.py takes its database from "
               "elsewhere (not alembic.ini's sqlalchemy.url, not DATABASE_URL); nothing was "
               "run"))
    if not reached:
        return None
    if not log.run_fix(name, run, path, shadow, env):
        return None
    cur = log.run("ask Alembic: current", f"alembic -c {config} current",
                  [*alembic, "current"], cwd=shadow, env=env)
    if cur.exit_code != 0:
        return None
    heads = sorted(ln.split()[0] for ln in log.stdout.splitlines() if ln.strip())
    if len(heads) != 1:
        return Judged([], heads, note=f"`alembic upgrade` not asked: {len(heads)} heads")
    up = log.run("ask Alembic: upgrade --sql", f"alembic -c {config} upgrade "
                 f"{heads[0]}:head --sql", [*alembic, "upgrade", f"{heads[0]}:head", "--sql"],
                 cwd=shadow, env=env)
    if up.exit_code != 0:
        return None
    return Judged(re.findall(r"-- Running upgrade \S* -> (\S+)", log.stdout), heads)


def _judge(log: Transcript, opt: RecoveryOption, judged: Judged | None, copied: bool
           ) -> tuple[str, str]:
    stopped = _failure(log, copied)
    if stopped is not None:
        return stopped
    assert judged is not None
    if judged.tenants is not None:  # per tenant: what showmigrations still lists
        scope = f" ({judged.note})" if judged.note else ""
        if judged.tenants:
            return "differed", "after the fix " + "; ".join(judged.tenants) + scope
        left = sorted(t for t, m in (opt.predicted_tenants or {}).items() if m)
        return "confirmed", ("after the fix Django's showmigrations lists nothing unapplied in "
                             "the repaired tenant schemas"
                             + (f" but what the report left for a decision ({', '.join(left)})"
                                if left else "") + f", as the report predicted{scope}")
    if opt.predicted_unapplied is None:
        return "differed", "the report made no prediction of the framework's view to compare with"
    differs: list[str] = []
    if judged.heads is not None:  # where the tool stands, then what it would run
        want_heads = sorted(opt.predicted_heads or [])
        if judged.heads != want_heads:
            differs.append(f"{judged.shows} {', '.join(judged.heads) or 'nothing'} "
                           f"where the report predicted {', '.join(want_heads) or 'nothing'}")
        seen, want = judged.planned, list(opt.predicted_unapplied)
        tool = judged.runs
    else:
        apps = set(opt.predicted_apps or [])
        seen = sorted(m for m in judged.planned if not apps or m.split(".", 1)[0] in apps)
        want = sorted(opt.predicted_unapplied)
        tool = "Django's migrate --plan lists"
    if not differs and judged.note:
        return "confirmed", (f"after the fix {judged.shows} "
                             f"{', '.join(judged.heads or [])}, as the report predicted "
                             f"({judged.note})")
    if seen != want and not judged.note:
        extra = [m for m in seen if m not in want]
        missing = [m for m in want if m not in seen]
        differs.append(f"{tool} "
                       + (f"{', '.join(extra)}, which the report did not predict" if extra
                          else "")
                       + ("; and " if extra and missing else "")
                       + (f"not {', '.join(missing)}, which the report predicted"
                          if missing else "")
                       + ("the same revisions in another order" if not extra and not missing
                          else ""))
    if differs:
        return "differed", "after the fix " + "; ".join(differs)
    if judged.heads is not None:
        return "confirmed", (f"after the fix {judged.shows} {', '.join(judged.heads)}"
                             f" and {judged.runs} "
                             + (", ".join(want) if want else "nothing")
                             + ", as the report predicted")
    return "confirmed", ("after the fix Django's migrate --plan lists "
                         + (", ".join(want) if want else "nothing to apply")
                         + ", as the report predicted")


def with_rehearsal(a: Assessment, number: int, r: RehearsalResult) -> Assessment:
    """The assessment with the rehearsal on its option; a fix that did not do what was
    predicted is no longer recommended, and says so."""
    options = []
    withdrawn: RecoveryOption | None = None
    for n, o in enumerate(a.recovery_options, 1):
        if n == number:
            update: dict[str, Any] = {"rehearsal": r}
            if r.outcome != "confirmed" and o.recommended:
                update |= {"recommended": False,
                           "why": f"withdrawn after a rehearsal on a copy of the schema: {r.why}"}
            o = o.model_copy(update=update)
            withdrawn = o if r.outcome != "confirmed" else None
        options.append(o)
    plan = a.action_plan
    if withdrawn is not None:
        names = {f.name for f in withdrawn.files}
        plan = [p.model_copy(update={"items": [
            i for i in p.items if not (any(i.text.startswith(f"Run {x} ") for x in names)
                                       or i.text == f"Complete: {withdrawn.title}.")] + (
            [ActionItem(text=f"Option {number}'s fix was rehearsed on a copy of the schema and "
                             f"withdrawn: {r.why}. Decide before running anything (the "
                             f"transcript is {r.transcript}).")]
            if p.phase == "fix" else [])})
            for p in plan]
    return a.model_copy(update={"recovery_options": options, "action_plan": plan})


def rehearse_outputs(folder: Path, bundle: EvidenceBundle, a: Assessment, source: DsnSource,
                     opts: RenderOptions, **kw: Any) -> RehearsalResult:
    """``rehearse`` on an ``assess`` output folder: the transcript beside the bundle, the
    assessment and the reports there rewritten with the outcome (the formats it holds)."""
    from reportgen.fileio import write_atomic
    from reportgen.outputs import assessment_json, render_outputs

    a = rehearse(folder, bundle, a, source, **kw)
    write_atomic(folder / "assessment.json", assessment_json(a))
    fmts = [f for f, name in (("md", "report.md"), ("html", "report.html"),
                              ("pdf", "report.pdf")) if (folder / name).exists()]
    if fmts:
        render_outputs(bundle, a, opts, folder, fmts)
    return next(o.rehearsal for o in a.recovery_options if o.rehearsal is not None)
