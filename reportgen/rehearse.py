"""Rehearse a fix before production: the report's fix run on a scratch copy of the schema,
judged by the framework itself.

From the live database, read-only: its schema (``pg_dump --schema-only``, which reads in
one snapshot and takes only ACCESS SHARE locks) and its tracker's rows (``pg_dump
--data-only`` of that one table). Both are restored into a throwaway server (the embedded
PostgreSQL of the ``[demo]`` extra) or into a new database on ``--scratch-dsn`` (refused
when it is the inspected database), the fix file runs there exactly as the report says to
run it, and the framework says what it now sees (Django: ``migrate --plan`` and
``showmigrations``, with the project's settings pointed at the scratch database). The
transcript (commands, exit codes, output, the scratch server's version) is written beside
the bundle as ``rehearsal.json``; the assessment's option carries its outcome and digest, and
a fix whose outcome differs from the prediction is no longer recommended.

Supported here: Django's re-record option (``refake_verified``). Production is never
written: the only statements sent to it are pg_dump's and one identity query in a read-only
transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
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

TRANSCRIPT = "rehearsal.json"
REHEARSABLE = ("refake_verified",)
OUTPUT_TAIL = 4000
STEP_TIMEOUT_S = 600


class ScratchRefused(ReportgenError):
    """The scratch database is the inspected one (or cannot be told apart from it)."""

    exit_code = 2


def pick_option(a: Assessment, number: int | None) -> tuple[int, RecoveryOption]:
    """The option to rehearse: ``number`` as the report numbers them (1-based), else the
    recommended one that can be rehearsed."""
    options = list(enumerate(a.recovery_options, 1))
    if number is not None:
        if not 1 <= number <= len(options):
            raise InputError(f"--option {number}: the report has {len(options)} option(s)")
        n, o = options[number - 1]
    else:
        found = [(n, o) for n, o in options if o.recommended and o.id in REHEARSABLE]
        if not found:
            raise InputError("nothing to rehearse: no recommended option is one reportgen "
                             "rehearses (Django's re-record of verified migrations); name one "
                             "with --option N")
        n, o = found[0]
    if o.id not in REHEARSABLE:
        raise InputError(f"option {n} ({o.title}) is not one reportgen rehearses yet (it "
                         "rehearses Django's re-record of verified migrations)")
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
            "pg_catalog.current_setting('server_version'), "
            "pg_catalog.current_setting('data_directory', true)").fetchone()
        sysid = None
        with contextlib.suppress(psycopg.Error):
            got = conn.execute(
                "SELECT system_identifier FROM pg_catalog.pg_control_system()").fetchone()
            sysid = str(got[0]) if got else None
        conn.execute("ROLLBACK")
    assert row is not None
    return {"database": row[0], "addr": row[1], "port": row[2], "version": row[3],
            "datadir": row[4], "system_identifier": sysid}


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


class Transcript:
    def __init__(self, secrets_: list[str]) -> None:
        self.steps: list[RehearsalStep] = []
        self._secrets = [s for s in secrets_ if s]

    def run(self, what: str, shown: str, argv: list[str] | str, *, cwd: Path | None = None,
            env: dict[str, str] | None = None, stdin: str | None = None) -> RehearsalStep:
        t0 = time.perf_counter()
        try:
            res = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True,
                                 text=True, timeout=STEP_TIMEOUT_S, shell=isinstance(argv, str),
                                 executable="/bin/bash" if isinstance(argv, str) else None)
            rc, out = res.returncode, (res.stdout + ("\n" if res.stdout and res.stderr else "")
                                      + res.stderr)
        except subprocess.TimeoutExpired:
            rc, out = -1, f"stopped after {STEP_TIMEOUT_S} s"
        except OSError as exc:
            rc, out = -1, f"could not run it: {exc}"
        step = RehearsalStep(what=what, command=scrub(shown, self._secrets), exit_code=rc,
                             seconds=round(time.perf_counter() - t0, 2),
                             output=scrub(out[-OUTPUT_TAIL:], self._secrets))
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


def _overlay(settings: str, scratch: str, alias: str, folder: Path) -> str:
    """A settings module that is the project's, with DATABASES[alias] pointed at the scratch
    database (everything else as the project has it)."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(scratch)
    target = {"NAME": p.get("dbname"), "USER": p.get("user"), "PASSWORD": p.get("password", ""),
              "HOST": p.get("host"), "PORT": str(p.get("port", ""))}
    module = "reportgen_rehearsal_settings"
    (folder / f"{module}.py").write_text(
        f"from {settings} import *  # noqa: F401,F403\n"
        f"from {settings} import DATABASES as _PROJECT_DATABASES\n"
        "import copy as _copy\n"
        "DATABASES = _copy.deepcopy(_PROJECT_DATABASES)\n"
        f"DATABASES[{alias!r}] = {{**DATABASES.get({alias!r}, {{}}), "
        f"'ENGINE': DATABASES.get({alias!r}, {{}}).get('ENGINE', "
        f"'django.db.backends.postgresql'), 'OPTIONS': {{}}, **{target!r}}}\n", "utf-8")
    return module


_PLANNED = re.compile(r"^([A-Za-z_][\w]*)\.(\S+)$")


def planned(migrate_plan_output: str) -> list[str]:
    """The migrations ``migrate --plan`` lists (its unindented app.name lines)."""
    return [m[0] for line in migrate_plan_output.splitlines()
            if (m := _PLANNED.match(line.rstrip()))]


def rehearse(report: Path, bundle: EvidenceBundle, a: Assessment, source: DsnSource, *,
             project: Path, settings: str, option: int | None = None,
             scratch_dsn: str | None = None, keep: bool = False,
             say: Callable[[str], None] = lambda _: None) -> Assessment:
    """Run the option's fix on a scratch copy and return the assessment with its outcome
    (a fix that did not do what the report predicted is no longer recommended)."""
    t0 = time.perf_counter()
    # First of all: where it would run. Never the inspected database.
    prod = _identity(source.conninfo)
    if scratch_dsn is not None and same_database(prod, _identity(scratch_dsn)):
        raise ScratchRefused("--scratch-dsn reaches the inspected database itself: a "
                             "rehearsal never runs a fix there; give another database or "
                             "server (or none: an embedded server is started)")
    if bundle.identity is not None and prod["database"] != bundle.identity.current_database:
        raise InputError(f"the DSN reaches database {prod['database']!r}, the report is of "
                         f"{bundle.identity.current_database!r}: rehearse with the report's "
                         "own database")
    n, opt = pick_option(a, option)
    f = opt.files[0]
    path = report / f.name
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the fix file ({exc.strerror})") from None
    sha = hashlib.sha256(body).hexdigest()
    log = Transcript(secrets_of(source))
    from reportgen.pgserver import available_binaries

    bins = available_binaries()
    if not bins:
        raise InputError("no pg_dump to copy the schema with: install reportgen[demo] (the "
                         "embedded server's binaries)")
    bindir = bins[0].bindir
    prod_info, prod_env = _env_for(source.conninfo)
    target = describe_target(source)
    schema = bundle.migrations.django.schema_name if bundle.migrations else None
    from reportgen.quoting import pg_dump_pattern

    with tempfile.TemporaryDirectory(prefix="reportgen-rehearse-") as tmp, \
            scratch_database(scratch_dsn, keep, say) as (scratch, where):
        work = Path(tmp)
        say(f"copying the schema of {target} (pg_dump, read-only) into {where}")
        dump = log.run("copy the schema (read-only)",
                       f"pg_dump --schema-only --no-owner --no-privileges {target}",
                       [str(bindir / "pg_dump"), "--schema-only", "--no-owner",
                        "--no-privileges", "--lock-wait-timeout=10s", "-f",
                        str(work / "schema.sql"), "-d", prod_info], env=prod_env)
        rows = log.run("copy the tracker's rows (read-only)",
                       f"pg_dump --data-only -t {pg_dump_pattern(schema, 'django_migrations')} "
                       f"{target}",
                       [str(bindir / "pg_dump"), "--data-only", "--no-owner",
                        "--lock-wait-timeout=10s", "-t",
                        pg_dump_pattern(schema, "django_migrations"), "-f",
                        str(work / "rows.sql"), "-d", prod_info], env=prod_env)
        scratch_info, scratch_env = _env_for(scratch)
        if dump.exit_code == 0 and rows.exit_code == 0:
            for part in ("schema.sql", "rows.sql"):
                log.run(f"restore {part} into the scratch database",
                        f"psql -X -v ON_ERROR_STOP=1 -f {part} (scratch)",
                        [str(bindir / "psql"), "-X", "-q", "-o", os.devnull, "-v",
                         "ON_ERROR_STOP=1", "-f",
                         str(work / part), "-d", scratch_info], env=scratch_env)
        copied = all(s.exit_code == 0 for s in log.steps)
        judged: list[str] | None = None
        if copied:
            alias = "default"
            overlay = _overlay(settings, scratch, alias, work)
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": overlay,
                   "PYTHONPATH": os.pathsep.join([str(work), str(project),
                                                  os.environ.get("PYTHONPATH", "")]),
                   "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                            os.environ.get("PATH", "")])}
            say(f"running {f.name} there, as the report says: {f.run}")
            run_as = f.run.replace(f.name, str(path.resolve()))
            log.run(f"run {f.name} as the report says", f.run, run_as, cwd=project, env=env)
            show = log.run("ask Django: showmigrations", "python manage.py showmigrations "
                           "--list", [sys.executable, "manage.py", "showmigrations", "--list"],
                           cwd=project, env=env)
            plan = log.run("ask Django: migrate --plan", "python manage.py migrate --plan",
                           [sys.executable, "manage.py", "migrate", "--plan"], cwd=project,
                           env=env)
            if show.exit_code == 0 and plan.exit_code == 0:
                judged = planned(plan.output)
        version = _identity(scratch)["version"]
    outcome, why = _judge(log, opt, judged, copied)
    doc = {"bundle_digest": bundle.digest, "option": n, "option_id": opt.id,
           "file": f.name, "file_sha256": sha, "file_as_reported": sha == f.sha256,
           "scratch": f"{where}, PostgreSQL {version}", "started_at":
           datetime.now(UTC).isoformat(), "outcome": outcome, "why": why,
           "predicted_unapplied": opt.predicted_unapplied, "planned": judged,
           "steps": [s.model_dump() for s in log.steps]}
    data = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    from reportgen.fileio import write_atomic

    write_atomic(report / TRANSCRIPT, data)
    result = RehearsalResult(
        outcome=outcome, why=why, transcript=TRANSCRIPT,
        transcript_sha256=hashlib.sha256(data).hexdigest(), file=f.name, file_sha256=sha,
        file_as_reported=sha == f.sha256, scratch=f"{where}, PostgreSQL {version}",
        seconds=round(time.perf_counter() - t0, 1), steps=log.steps)
    return with_rehearsal(a, n, result)


def _judge(log: Transcript, opt: RecoveryOption, judged: list[str] | None, copied: bool
           ) -> tuple[str, str]:
    failed = next((s for s in log.steps if s.exit_code != 0), None)
    if not copied and failed is not None:
        return "failed", (f"the scratch copy could not be made ({failed.what}: exit "
                          f"{failed.exit_code}); nothing was rehearsed")
    if failed is not None:
        last = failed.output.strip().splitlines()[-1:] or [""]
        return "failed", f"{failed.what} stopped with exit {failed.exit_code}: {last[0]}"
    assert judged is not None
    apps = set(opt.predicted_apps or [])
    seen = sorted(m for m in judged if not apps or m.split(".", 1)[0] in apps)
    want = sorted(opt.predicted_unapplied or [])
    if opt.predicted_unapplied is None:
        return "differed", "the report made no prediction of Django's plan to compare with"
    if seen == want:
        return "confirmed", ("after the fix Django's migrate --plan lists "
                             + (", ".join(want) if want else "nothing to apply")
                             + ", as the report predicted")
    extra = [m for m in seen if m not in want]
    missing = [m for m in want if m not in seen]
    return "differed", ("after the fix Django's migrate --plan "
                        + (f"still lists {', '.join(extra)}" if extra else "")
                        + (" and " if extra and missing else "")
                        + (f"no longer lists {', '.join(missing)}" if missing else "")
                        + ", which the report did not predict")


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
