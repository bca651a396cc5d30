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
a version only the scratch database holds must be the one Alembic reads, else nothing runs).
The transcript (commands, exit codes, output, the scratch server's version) is written beside
the bundle as ``rehearsal.json``; the assessment's option carries its outcome and digest, and a
fix whose outcome differs from the prediction is no longer recommended.

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
REHEARSABLE = ("refake_verified",)
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
                             "MigrationRecorder, Alembic's stamp)")
        n, o = found[0]
    if o.id not in REHEARSABLE:
        raise InputError(f"option {n} ({o.title}) is not one reportgen rehearses (it "
                         "rehearses re-recording verified migrations: Django's "
                         "MigrationRecorder, Alembic's stamp)")
    if not o.files:
        raise InputError(f"option {n} has no fix file to run")
    return n, o


def _identity(conninfo: str) -> dict[str, Any]:
    """Who a connection reaches: the cluster's system identifier (when the role may read
    it), its address and port, the database. One read-only transaction."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10, autocommit=True,
                         application_name="reportgen rehearse") as conn:
        conn.execute("BEGIN READ ONLY")
        row = conn.execute(
            "SELECT pg_catalog.current_database(), "
            "pg_catalog.inet_server_addr()::pg_catalog.text, pg_catalog.inet_server_port(), "
            "pg_catalog.current_setting('server_version')").fetchone()
        sysid = None
        with contextlib.suppress(psycopg.Error):
            got = conn.execute(
                "SELECT system_identifier FROM pg_catalog.pg_control_system()").fetchone()
            sysid = str(got[0]) if got else None
        conn.execute("ROLLBACK")
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
    """The output's last OUTPUT_TAIL characters, from a line's start."""
    if len(text) <= OUTPUT_TAIL:
        return text
    cut = text[-OUTPUT_TAIL:]
    return cut[cut.find("\n") + 1:] if "\n" in cut else cut


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
FRAMEWORKS = ("django", "alembic")
#: The share of the server's shared lock table pg_dump may take: past it, the catalog copy.
LOCK_SHARE = 2
PROBE = "reportgen_rehearsal_probe"


def _prod_facts(conninfo: str) -> dict[str, int]:
    """How many tables pg_dump would lock, and how many locks the server's shared lock
    table holds (max_locks_per_transaction × (max_connections + max_prepared_transactions)).
    One read-only transaction, catalog reads only."""
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=10, autocommit=True,
                         application_name="reportgen rehearse") as conn:
        conn.execute("BEGIN READ ONLY")
        row = conn.execute(
            "SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c JOIN "
            "pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
            "WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::pg_catalog.\"char\"[])"
            " AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', "
            "'information_schema']) AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp)'),"
            " pg_catalog.current_setting('max_locks_per_transaction')::pg_catalog.int8 "
            "OPERATOR(pg_catalog.*) (pg_catalog.current_setting('max_connections')"
            "::pg_catalog.int8 OPERATOR(pg_catalog.+) pg_catalog.current_setting("
            "'max_prepared_transactions')::pg_catalog.int8)").fetchone()
        conn.execute("ROLLBACK")
    assert row is not None
    return {"tables": int(row[0]), "lock_slots": int(row[1])}


CATALOG_TABLES = """
SELECT c.oid::pg_catalog.int8, n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::pg_catalog."char"[])
  AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp)'
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


def catalog_copy(conninfo: str, skip: tuple[str | None, str]) -> tuple[str, int]:
    """reportgen's own copy of the schema, for where pg_dump cannot run: every schema and
    every table with its columns (a type of the database's own, an enum or a domain, becomes
    text), read in one read-only snapshot from the catalog (no table is locked). No
    constraint, index, default, view or row: enough for a framework that reads its tracker
    only. ``skip``: the tracker table, copied by pg_dump with its own definition. Every name
    is quoted (a name is the database's input). Returns (SQL, tables)."""
    import psycopg

    from reportgen.quoting import sql_ident, sql_qualified

    with psycopg.connect(conninfo, connect_timeout=10, autocommit=True,
                         application_name="reportgen rehearse") as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tables = conn.execute(CATALOG_TABLES).fetchall()
        columns: dict[int, list[str]] = {}
        for oid, name, typ, builtin in conn.execute(CATALOG_COLUMNS):
            columns.setdefault(oid, []).append(
                f"{sql_ident(name)} {typ if builtin else 'pg_catalog.text'}")
        conn.execute("ROLLBACK")
    lines = ["-- reportgen's catalog copy: tables and columns only (no constraint, index, "
             "default, view or row).", "SET standard_conforming_strings = on;",
             "SELECT pg_catalog.set_config('search_path', '', false);"]
    lines += [f"CREATE SCHEMA IF NOT EXISTS {sql_ident(s)};"
              for s in sorted({s for _, s, _ in tables})]
    n = 0
    for oid, schema, name in tables:
        if (skip[0] in (None, schema)) and name == skip[1]:
            continue
        lines.append(f"CREATE TABLE {sql_qualified(schema, name)} ("
                     + ", ".join(columns.get(oid, [])) + ");")
        n += 1
    return "\n".join(lines) + "\n", n


def _scratch_url(scratch: str, original: str | None) -> str:
    """A SQLAlchemy URL for the scratch database, with the project's own PostgreSQL driver
    when its alembic.ini names one (else psycopg 3, which reportgen itself uses)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(scratch)
    scheme = (original or "").split("://", 1)[0].strip()
    if not scheme.startswith("postgresql"):
        scheme = "postgresql+psycopg"
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    return (f"{scheme}://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/"
            f"{quote(str(p.get('dbname', '')), safe='')}")


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
             scratch_dsn: str | None = None, keep: bool = False,
             say: Callable[[str], None] = lambda _: None) -> Assessment:
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
    fw = framework_of(bundle)
    if fw.key not in FRAMEWORKS:
        raise InputError(f"reportgen rehearses Django's and Alembic's fixes; this report's "
                         f"framework is {fw.name}: run its fix on a copy by hand")
    if fw.key == "django" and not settings:
        raise InputError("--django-settings is needed to rehearse a Django fix (the "
                         "project's settings module; its database is pointed at the scratch "
                         "copy)")
    n, opt = pick_option(a, option)
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
    facts = _prod_facts(source.conninfo)
    by_catalog = facts["tables"] * LOCK_SHARE > facts["lock_slots"]
    log: Transcript | None = None
    with tempfile.TemporaryDirectory(prefix="reportgen-rehearse-") as tmp, \
            scratch_database(scratch_dsn, keep, say) as (scratch, where):
        from psycopg.conninfo import conninfo_to_dict

        log = Transcript([*secrets_of(source),
                          str(conninfo_to_dict(scratch).get("password") or "")])
        work = Path(tmp)
        copied = _copy(log, bindir, source, scratch, work, tracker, tr.table_present,
                       by_catalog, facts, where, say)
        judged: Judged | None = None
        if copied:
            say(f"running {f.name} there, as the report says: {f.run}")
            if fw.key == "django":
                assert settings is not None
                judged = _django(log, f.name, f.run, path, project, settings, scratch, work)
            else:
                cb = bundle.codebase
                config = cb.config if cb is not None and cb.config else "alembic.ini"
                judged = _alembic(log, f.name, f.run, path, project, config, scratch, work,
                                  tracker)
        version = _identity(scratch)["version"]
    outcome, why = _judge(log, opt, judged, copied)
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
           "steps": [s.model_dump() for s in log.steps]}
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    data = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    from reportgen.fileio import write_atomic

    write_atomic(report / TRANSCRIPT, data)
    return with_rehearsal(a, n, _result(doc, data))


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
    (Alembic) the heads it reads; ``note``: what it could not be asked."""

    def __init__(self, planned: list[str], heads: list[str] | None = None,
                 note: str = "") -> None:
        self.planned, self.heads, self.note = planned, heads, note


def _copy(log: Transcript, bindir: Path, source: DsnSource, scratch: str, work: Path,
          tracker: tuple[str | None, str], tracker_present: bool, by_catalog: bool,
          facts: dict[str, int], where: str, say: Callable[[str], None]) -> bool:
    """The schema and the tracker's rows, read-only from production, into the scratch
    database. Returns whether every step succeeded."""
    import psycopg

    from reportgen.quoting import pg_dump_pattern

    prod_info, prod_env = _env_for(source.conninfo)
    scratch_info, scratch_env = _env_for(scratch)
    target = describe_target(source)
    pattern = pg_dump_pattern(*tracker)
    dump = [str(bindir / "pg_dump"), "--no-owner", "--no-privileges",
            "--lock-wait-timeout=10s"]
    parts: list[str] = []
    if by_catalog:
        say(f"copying the catalog of {target} (read-only, no lock: its {facts['tables']} "
            f"tables would take more than half of the server's {facts['lock_slots']} lock "
            f"slots with pg_dump) into {where}")
        t0 = time.perf_counter()
        try:
            text, n = catalog_copy(source.conninfo, tracker)
            (work / "catalog.sql").write_text(text, "utf-8")
            rc, out = 0, f"{n} table(s) with their columns"
        except (psycopg.Error, OSError) as exc:  # recorded in the transcript, judged below
            rc, out = 1, f"{type(exc).__name__}: {exc}"
        log.steps.append(RehearsalStep(
            what="copy the catalog (read-only, no lock): tables and columns",
            command=f"reportgen catalog copy of {target} ({facts['tables']} tables > "
                    f"{facts['lock_slots']} lock slots / {LOCK_SHARE})",
            exit_code=rc, seconds=round(time.perf_counter() - t0, 2),
            output=scrub(out, log.secrets)))
        parts.append("catalog.sql")
        if tracker_present:
            log.run("copy the tracker table and its rows (read-only)",
                    f"pg_dump -t {pattern} {target}",
                    [*dump, "-t", pattern, "-f", str(work / "rows.sql"), "-d", prod_info],
                    env=prod_env)
            parts.append("rows.sql")
    else:
        say(f"copying the schema of {target} (pg_dump, read-only) into {where}")
        log.run("copy the schema (read-only)",
                f"pg_dump --schema-only --no-owner --no-privileges {target}",
                [*dump, "--schema-only", "-f", str(work / "schema.sql"), "-d", prod_info],
                env=prod_env)
        parts.append("schema.sql")
        if tracker_present:
            log.run("copy the tracker's rows (read-only)",
                    f"pg_dump --data-only -t {pattern} {target}",
                    [*dump, "--data-only", "-t", pattern, "-f", str(work / "rows.sql"), "-d",
                     prod_info], env=prod_env)
            parts.append("rows.sql")
    if any(s.exit_code != 0 for s in log.steps):
        return False
    for part in parts:
        log.run(f"restore {part} into the scratch database",
                f"psql -X -v ON_ERROR_STOP=1 -f {part} (scratch)",
                [str(bindir / "psql"), "-X", "-q", "-o", os.devnull, "-v", "ON_ERROR_STOP=1",
                 "-f", str(work / part), "-d", scratch_info], env=scratch_env)
    return all(s.exit_code == 0 for s in log.steps)


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
    log.run(f"run {name} as the report says", run,
            run.replace(name, shlex.quote(str(path.resolve()))), cwd=project, env=env)
    if log.steps[-1].exit_code != 0:
        return None
    show = log.run("ask Django: showmigrations", "python manage.py showmigrations --list",
                   [sys.executable, "manage.py", "showmigrations", "--list"], cwd=project,
                   env=env)
    plan = log.run("ask Django: migrate --plan", "python manage.py migrate --plan",
                   [sys.executable, "manage.py", "migrate", "--plan"], cwd=project, env=env)
    if show.exit_code != 0 or plan.exit_code != 0:
        return None
    return Judged(planned(plan.output))


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
    probe.exit_code = 0 if reached else 1
    probe.output += ("\n-> the scratch copy's probe version was read: Alembic reaches the "
                     "scratch database" if reached else
                     "\n-> the probe version was NOT read: the project's env.py takes its "
                     "database from elsewhere (not alembic.ini's sqlalchemy.url, not "
                     "DATABASE_URL); nothing was run")
    if not reached:
        return None
    log.run(f"run {name} as the report says", run,
            run.replace(name, shlex.quote(str(path.resolve()))), cwd=shadow, env=env)
    if log.steps[-1].exit_code != 0:
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
    failed = next((s for s in log.steps if s.exit_code != 0), None)
    if not copied and failed is not None:
        return "failed", (f"the scratch copy could not be made ({failed.what}: exit "
                          f"{failed.exit_code}); nothing was rehearsed")
    if failed is not None:
        last = failed.output.strip().splitlines()[-1:] or [""]
        return "failed", f"{failed.what} stopped with exit {failed.exit_code}: {last[0]}"
    assert judged is not None
    if opt.predicted_unapplied is None:
        return "differed", "the report made no prediction of the framework's view to compare with"
    differs: list[str] = []
    if judged.heads is not None:  # Alembic: the heads it reads, then what it would run
        want_heads = sorted(opt.predicted_heads or [])
        if judged.heads != want_heads:
            differs.append(f"`alembic current` shows {', '.join(judged.heads) or 'nothing'} "
                           f"where the report predicted {', '.join(want_heads) or 'nothing'}")
        seen, want = judged.planned, list(opt.predicted_unapplied)
        tool = "`alembic upgrade` would run"
    else:
        apps = set(opt.predicted_apps or [])
        seen = sorted(m for m in judged.planned if not apps or m.split(".", 1)[0] in apps)
        want = sorted(opt.predicted_unapplied)
        tool = "Django's migrate --plan lists"
    if not differs and judged.note:
        return "confirmed", (f"after the fix `alembic current` shows "
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
        return "confirmed", (f"after the fix `alembic current` shows {', '.join(judged.heads)}"
                             " and `alembic upgrade` would run "
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
