"""Resolve what the responder typed into a connection, and open the one read-only snapshot.

The rules (DESIGN.md, "Collecting safely"):
- one ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` transaction, ``SET LOCAL`` timeouts,
  then ``ROLLBACK``; this works through PgBouncer transaction pooling (Neon ``-pooler`` hosts);
- ``application_name`` starts with ``reportgen``; no prepared statements;
- the password never leaves this module: it is not in the target description, and it is
  scrubbed from every error message.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.rows import dict_row, tuple_row

from reportgen import __version__
from reportgen.errors import ConnectionFailed

T = TypeVar("T")

APPLICATION_NAME = f"reportgen/{__version__}"

#: Bounds for every collection; each is applied with SET LOCAL inside the snapshot.
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_LOCK_TIMEOUT_MS = 200
DEFAULT_IDLE_TIMEOUT_MS = 60_000
DEFAULT_CONNECT_TIMEOUT_S = 10

_SQLALCHEMY_SCHEME = re.compile(r"^(postgres(?:ql)?)\+[a-z0-9_]+://", re.IGNORECASE)


@dataclass(frozen=True)
class DsnSource:
    """Where the connection parameters came from, and the parameters themselves."""

    origin: str  # "--dsn", "DATABASE_URL" or "libpq environment"
    conninfo: str = field(repr=False)  # may hold a password: never printed, never stored


def read_dsn_file(path: str) -> str:
    """The DSN from a file (``-``: standard input), for those who must not put a password
    on a command line (``ps`` shows every process's arguments) or in the environment. The
    first non-empty line is the DSN."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectionFailed(f"--dsn-file {path}: cannot read it ({exc.__class__.__name__})"
                               ) from None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not line:
        raise ConnectionFailed(f"--dsn-file {path}: no DSN in it (one line: a libpq URL or "
                               "key=value string)")
    return line


def resolve_dsn(dsn: str | None, environ: Mapping[str, str] | None = None) -> DsnSource:
    """Pick the DSN: ``--dsn`` first, then ``DATABASE_URL``, then libpq's own environment.

    An empty conninfo lets libpq read PGHOST, PGPORT, PGUSER, PGSERVICE, PGPASSFILE, ...
    itself, exactly as psql does.
    """
    env = os.environ if environ is None else environ
    if dsn:
        return DsnSource("--dsn", _normalize(dsn))
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return DsnSource("DATABASE_URL", _normalize(url))
    return DsnSource("libpq environment", "")


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _plain_scheme(dsn: str) -> str:
    """SQLAlchemy-style URLs (postgresql+psycopg://), common in app settings, as libpq's."""
    return _SQLALCHEMY_SCHEME.sub(lambda m: m.group(1) + "://", dsn.strip())


def _normalize(dsn: str) -> str:
    dsn = _plain_scheme(dsn)
    url = _URL.match(dsn)
    if url:
        # A raw '@' or '/' in the user or password makes libpq read part of the password as
        # the host (and print it in its error). Refuse it, echoing nothing of the DSN.
        rest = dsn[url.end():]
        cut = re.search(r"[/?#]", rest)
        authority, tail = (rest[:cut.start()], rest[cut.start():]) if cut else (rest, "")
        if authority.count("@") > 1 or "@" in tail:
            raise ConnectionFailed(
                "the DSN URL is ambiguous: its user or password holds a character that must "
                "be percent-encoded ('@' as %40, '/' as %2F, ':' as %3A, '%' as %25); or "
                "leave the password out and use PGPASSWORD, ~/.pgpass or --dsn-file")
    try:
        pg_conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(
            f"the DSN is not valid libpq syntax ({_syntax_error(str(exc))}); "
            "use postgresql://user@host:5432/dbname or 'host=... dbname=...', with any "
            "special character of the password percent-encoded in a URL"
        ) from None
    return dsn


_UNKNOWN_OPTION = re.compile(r'(invalid connection option|invalid URI query parameter:?) '
                             r'"([A-Za-z_]{1,40})"')


def _syntax_error(message: str) -> str:
    """libpq's complaint about a DSN, shown without the fragment it quotes (which may be part
    of the password). An unknown option is named, with the option it is close to: a misspelt
    name is not a secret, and a word that resembles no option (a password with a space in
    it, unquoted) stays hidden."""
    import difflib

    line = _first_line(message)
    m = _UNKNOWN_OPTION.search(line)
    if m:
        known = [o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults()]
        close = difflib.get_close_matches(m[2].lower(), known, n=1, cutoff=0.75)
        if close:
            return f'{m[1]} "{m[2]}": did you mean "{close[0]}"?'
    why = re.sub(r'"[^"]*"', lambda q: q[0] if q[0] == '"="' else "(fragment not shown)",
                 line)
    return re.sub(r"'[^']*'", "(fragment not shown)", why)


def mask_dsn(dsn: str) -> str:
    """The DSN as it may be printed (Appendix A, logs): the whole password value replaced,
    whatever quoting or encoding it used; an unparsable DSN is not printed at all."""
    try:
        params = pg_conninfo.conninfo_to_dict(_plain_scheme(dsn))
    except psycopg.ProgrammingError:
        return "********"
    if "password" not in params:
        return dsn
    params["password"] = "********"
    return pg_conninfo.make_conninfo("", **params)


def typed_parameters(source: DsnSource) -> dict[str, str]:
    """What the responder typed (or the environment gave), minus any secret."""
    params = pg_conninfo.conninfo_to_dict(source.conninfo)
    typed = {k: str(v) for k, v in params.items() if k in _SHOWN_PARAMS}
    env = os.environ
    for key, var in _ENV_PARAMS.items():
        if key not in typed and env.get(var):
            typed[key] = env[var]
    return typed


_SHOWN_PARAMS = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "service", "options")
_ENV_PARAMS = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "sslmode": "PGSSLMODE",
    "service": "PGSERVICE",
}


def secrets_of(source: DsnSource) -> list[str]:
    """The secrets a source carries (its password, PGPASSWORD): what scrub removes."""
    found: list[str] = []
    try:
        pw = pg_conninfo.conninfo_to_dict(source.conninfo).get("password")
    except psycopg.ProgrammingError:
        pw = None
    for value in (pw, os.environ.get("PGPASSWORD")):
        if value:
            found.append(str(value))
    return found


def scrub(message: str, secrets: list[str]) -> str:
    """Remove every secret (and anything after ``password=``) from a message."""
    for secret in secrets:
        message = message.replace(secret, "********")
    message = re.sub(r"(password\s*=\s*)(\S+)", r"\1********", message, flags=re.IGNORECASE)
    return re.sub(r"(://[^:/@\s]*:)([^@\s]+)(@)", r"\1********\3", message)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else text.strip()


#: The libpq variables that say where to connect (PGPASSWORD alone says nothing of where).
_WHERE_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
                    "PGSERVICEFILE", "PGSSLMODE", "PGOPTIONS")


def nothing_given(source: DsnSource, environ: Mapping[str, str] | None = None) -> bool:
    """No --dsn, no DATABASE_URL and no libpq variable: libpq falls back to its defaults
    (the local socket, the OS user's name), as psql does, and an error must say so."""
    env = os.environ if environ is None else environ
    return source.origin == "libpq environment" and not source.conninfo \
        and not any(env.get(v) for v in _WHERE_VARIABLES)


def explain_connect_error(exc: Exception, target: str) -> str:
    """One line that names the problem and what to do about it."""
    raw = _first_line(str(exc))
    low = str(exc).lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = "check the user and password (PGPASSWORD, ~/.pgpass or the DSN)"
    elif "does not exist" in low and "database" in low:
        hint = "check the database name (dbname / PGDATABASE)"
    elif "ssl" in low:
        hint = "check sslmode: the server and client disagree about SSL"
    elif "timeout" in low or "timed out" in low:
        hint = "the host did not answer in time: check host, port, VPN and firewall"
    elif "connection refused" in low or "could not connect" in low or "no such file" in low:
        hint = "is the server running and listening on that host and port?"
    elif "could not translate host name" in low or "name or service not known" in low:
        hint = "the host name does not resolve: check its spelling and your DNS"
    else:
        hint = "check the connection parameters"
    return f"cannot connect to {target}: {raw} ({hint})"


def describe_target(source: DsnSource) -> str:
    typed = typed_parameters(source)
    host = typed.get("host") or typed.get("hostaddr") or "local socket"
    port = typed.get("port", "5432")
    db = typed.get("dbname", "")
    where = f"{host}:{port}" if not host.startswith("/") else host
    return f"{where}/{db}" if db else where


#: Refusals a guarded query reports instead of raising: a timeout, a lock, a privilege (and
#: row-level security), a relation or function gone, an object not in a usable state.
_REFUSED = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable,
            psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedFunction, psycopg.errors.ObjectNotInPrerequisiteState)


class Snapshot:
    """One read-only, repeatable-read transaction; every query counts as a round trip."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]], secrets: list[str]) -> None:
        self.conn = conn
        self.round_trips = 0
        self._secrets = secrets
        #: The session's search_path as the database and role set it (SHOW, before reportgen
        #: emptied it inside the snapshot).
        self.session_search_path = ""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.round_trips += 1
        with self.conn.cursor() as cur:
            cur.execute(sql.encode(), params, prepare=False)
            if cur.description is None:
                return []
            return list(cur.fetchall())

    def query_overlapped(self, first: Sequence[str], work: Callable[..., T], then: str,
                         params: Mapping[str, Any] | None = None
                         ) -> tuple[T, list[tuple[Any, ...]]]:
        """Run the ``first`` queries, send ``then``, and call ``work`` with the first queries'
        rows (tuples; one iterator per query, made Python objects in batches) while
        PostgreSQL runs ``then``: this process and the server work at the same time. Returns
        what ``work`` returned and ``then``'s rows. All in binary format (a bytea arrives as
        bytes). Pipeline mode: ``then`` is sent without waiting for its result; one session,
        one transaction, as every query."""
        self.round_trips += len(first) + 1
        with self.conn.pipeline() as pipeline:
            cursors = [self.conn.cursor(row_factory=tuple_row, binary=True) for _ in first]
            for cur, sql in zip(cursors, first, strict=True):
                cur.execute(sql.encode(), prepare=False)
            pipeline.sync()  # their results are in; the server is idle until ``then``
            last = self.conn.cursor(row_factory=tuple_row, binary=True)
            last.execute(then.encode(), params, prepare=False)
            value = work(*[_batches(cur) for cur in cursors])
            return value, last.fetchall()

    def query_releasing_locks(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Run a query inside a savepoint that is always rolled back, and return its rows
        or, when PostgreSQL refused it (a timeout, a lock, a privilege, row-level security,
        a relation gone), its error (scrubbed) instead of raising.

        Rolling back to the savepoint gives back every lock the query took (count(*), size
        functions, reading a tracker table): PostgreSQL releases locks taken after a savepoint
        when the transaction rolls back to it, where a RELEASE would keep them to the end of
        the snapshot. So no DDL (and no production query queued behind that DDL) ever waits on
        reportgen for longer than one statement. Every read of a relation that a database user
        controls goes through here."""
        self.round_trips += 3  # SAVEPOINT, the query, ROLLBACK TO + RELEASE
        with self.conn.cursor() as cur:
            cur.execute(b"SAVEPOINT reportgen_locks", prepare=False)
            try:
                cur.execute(sql.encode(), params, prepare=False)
                rows = list(cur.fetchall()) if cur.description is not None else []
                err = None
            except _REFUSED as exc:
                rows, err = [], scrub(_first_line(str(exc)), self._secrets)
            cur.execute(b"ROLLBACK TO SAVEPOINT reportgen_locks; "
                        b"RELEASE SAVEPOINT reportgen_locks", prepare=False)
        return rows, err

    #: Catalog reads that may be refused: the same rolled-back savepoint.
    query_guarded = query_releasing_locks

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint around the block: an error inside rolls back to it, and the snapshot
        goes on for the queries after it."""
        self.round_trips += 2  # SAVEPOINT + RELEASE (or ROLLBACK TO)
        with self.conn.transaction():
            yield


def _batches(cur: psycopg.Cursor[tuple[Any, ...]], size: int = 5000
             ) -> Iterator[tuple[Any, ...]]:
    """A cursor's rows, made Python objects a batch at a time (not all at once)."""
    while rows := cur.fetchmany(size):
        yield from rows


@dataclass
class SessionInfo:
    """What psycopg negotiated: shown in the bundle, never the password."""

    host: str
    port: str
    dbname: str
    user: str
    parameters: dict[str, str]
    connect_ms: float


@contextmanager
def read_only_snapshot(
    source: DsnSource,
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    idle_timeout_ms: int = DEFAULT_IDLE_TIMEOUT_MS,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
    application_name: str = APPLICATION_NAME,
) -> Iterator[tuple[Snapshot, SessionInfo]]:
    """Connect, open the read-only snapshot, yield it, and always ROLLBACK."""
    secrets = secrets_of(source)
    target = describe_target(source)
    started = time.perf_counter()
    try:
        conn = psycopg.connect(
            source.conninfo,
            autocommit=True,  # we issue BEGIN ourselves, so the log shows exactly what we ran
            prepare_threshold=None,  # PgBouncer transaction pooling: no prepared statements
            application_name=application_name,
            connect_timeout=connect_timeout_s,
            row_factory=dict_row,
        )
    except psycopg.Error as exc:
        why = explain_connect_error(exc, target)
        if nothing_given(source):
            why = (f"no connection given (--dsn, --dsn-file, DATABASE_URL or PG* variables); "
                   f"libpq's default was tried: {why}")
        raise ConnectionFailed(scrub(why, secrets)) from None
    connect_ms = (time.perf_counter() - started) * 1000
    info = SessionInfo(
        host=conn.info.host,
        port=str(conn.info.port),
        dbname=conn.info.dbname,
        user=conn.info.user,
        parameters={k: v for k, v in conn.info.get_parameters().items() if k != "password"},
        connect_ms=round(connect_ms, 1),
    )
    snap = Snapshot(conn, secrets)
    try:
        try:
            snap.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # The search_path the database and role give this session (what the application
            # sees, e.g. where Django finds django_migrations), before it is emptied below.
            # SHOW calls no function: nothing a database user planted can run here.
            snap.session_search_path = str(snap.query("SHOW search_path")[0]["search_path"])
            # SET LOCAL does not take parameters; the values are integers we control.
            # search_path = '': every name resolves in pg_catalog only, whatever objects a
            # database user created in public or elsewhere (the CVE-2018-1058 class; pg_dump
            # does the same), and set inside the transaction, so no ALTER DATABASE/ROLE ...
            # SET can undo it. row_security = off: a table whose row-level security policies
            # would apply raises an error (reported as "not read, with why") instead of
            # running its policies' expressions and returning a filtered, false count.
            snap.query(
                f"SET LOCAL statement_timeout = {int(statement_timeout_ms)};"
                f" SET LOCAL lock_timeout = {int(lock_timeout_ms)};"
                f" SET LOCAL idle_in_transaction_session_timeout = {int(idle_timeout_ms)};"
                " SET LOCAL search_path = '';"
                " SET LOCAL row_security = off"
            )
        except psycopg.Error as exc:
            raise ConnectionFailed(
                scrub(f"cannot open a read-only snapshot on {target}: {_first_line(str(exc))}",
                      secrets)
            ) from None
        yield snap, info
    except psycopg.OperationalError as exc:
        raise ConnectionFailed(
            scrub(f"lost the connection to {target} during collection: "
                  f"{_first_line(str(exc))} (re-run when the server is reachable)", secrets)
        ) from None
    finally:
        try:
            if not conn.closed:
                snap.round_trips += 1
                conn.execute("ROLLBACK")
        except psycopg.Error:
            pass
        conn.close()


def search_path_schemas(path: str, user: str) -> list[str]:
    """The schema names a ``search_path`` setting lists, in order, read by PostgreSQL's own
    grammar (pglast: unquoted names folded to lower case, ``""`` inside quotes), with
    ``$user`` as the session's user. A value the grammar rejects lists nothing."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    try:
        stmt = parse_sql(f"SET search_path = {path}")[0].stmt
    except (ParseError, IndexError):
        return []
    if not isinstance(stmt, ast.VariableSetStmt):
        return []
    names = [a.val.sval or "" for a in stmt.args or () if isinstance(a, ast.A_Const)
             and isinstance(a.val, ast.String)]
    return [user if name == "$user" else name for name in names]
