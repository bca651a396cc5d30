"""PostgreSQL server logs (``--server-log FILE``): DDL and destructive statements, with time,
user, database and application, in any of the server's three formats.

- csvlog (``*.csv``) and jsonlog (``*.json``, PostgreSQL 15+): every field is named; these
  are preferred (a stderr line the same statement is in too is left out).
- stderr: each line starts with the server's ``log_line_prefix`` (read from the server when
  the evidence is collected, kept in the bundle), then ``LOG:  statement: ...`` /
  ``execute <name>: ...`` / ``duration: ... statement: ...``; continuation lines start with a
  tab. The prefix is parsed by its own escapes (``%u`` user, ``%d`` database, ``%a``
  application, ``%p`` PID, ``%m``/``%t`` time), so an application_name holding ``user=ceo``
  is the application's, never the user; a line that the prefix can be read two ways is left
  unattributed. Without the prefix, stderr lines give time and statement only. Lines end at
  ``\n`` only: PostgreSQL writes a ``\r`` inside a statement as it is, so it is part of it.
Times carry their zone in the log (log_timezone); a zone abbreviation other than UTC/GMT or a
numeric offset needs ``--log-tz``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from reportgen.bundle import LogEvent, ServerLog
from reportgen.collect.statement_parse import parse_statements
from reportgen.errors import InputError

MAX_EVENTS = 5000
MAX_CATALOG_QUERIES = 500
WRITE_KINDS = ("INSERT", "COPY FROM")
_TS = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)"
                 r"(?:\s*([A-Za-z]{1,5}|[+-]\d\d(?::?\d\d)?))?")
_STMT = re.compile(r"(?:LOG|STATEMENT):\s+(?:duration: [\d.]+ ms\s+)?"
                   r"(?:statement|execute [^:]*):\s?(.*)$")


def statement_kind(text: str) -> str | None:
    """The kind of the first DDL or destructive statement in ``text`` (None: neither)."""
    found = parse_statements(text)
    return found[0].kind if found else None


def _parse_time(stamp: str, zone: str | None, fallback: tzinfo | None) -> datetime | None:
    t = datetime.fromisoformat(stamp.replace(" ", "T"))
    if zone is None or zone.upper() in ("UTC", "GMT", "Z"):
        if zone is None and fallback is None:
            return None
        return t.replace(tzinfo=UTC if zone else fallback).astimezone(UTC)
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        offset = (hours * 60 + minutes) * (1 if zone[0] == "+" else -1)
        return datetime.fromisoformat(f"{stamp.replace(' ', 'T')}{'+' if offset >= 0 else '-'}"
                                      f"{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
                                      ).astimezone(UTC)
    if fallback is None:
        return None
    return t.replace(tzinfo=fallback).astimezone(UTC)


@dataclass(frozen=True)
class OwnSession:
    """reportgen's own collecting session: its statements are recognised by backend PID and
    time window, never by their text or application_name (which anyone can set)."""

    pid: int
    start: datetime
    end: datetime

    def owns(self, session: str | None, when: datetime) -> bool:
        return session == str(self.pid) and self.start <= when <= self.end


def _events(time: datetime, text: str, user: str | None, db: str | None, app: str | None,
            session: str | None, source: str) -> list[LogEvent]:
    """One event per DDL or destructive statement in the logged text (pglast), each with the
    tables it names. User, database, application and session come from the log line's own
    fields (prefix, csv or json), never from the statement."""
    return [LogEvent(time=time, kind=st.kind, statement=" ".join(st.text.split())[:500],
                     tables=st.tables, schemas=st.schemas, user=user or None,
                     database=db or None,
                     application=app or None, session=session or None, source=source)
            for st in parse_statements(text) if st.kind is not None]


#: log_line_prefix escapes: the field each one gives (None: read over), and what it looks like.
#: Free text (application, user, database: names of at most 63 bytes; host, backend type,
#: command tag) matches anything of its length: {n} is filled in as short or as long as
#: possible.
_ESCAPES: dict[str, tuple[str | None, str]] = {
    "a": ("app", ".{0,63}"), "u": ("user", ".{0,63}"), "d": ("db", ".{0,63}"),
    "r": (None, ".{0,300}"), "h": (None, ".{0,300}"), "b": (None, ".{0,63}"),
    "i": (None, ".{0,63}"), "p": ("session", r"\d+"), "P": (None, r"\d*"),
    "c": (None, r"[0-9a-f]+\.[0-9a-f]+"), "l": (None, r"\d+"), "e": (None, r"[0-9A-Z]{5}"),
    "m": ("time", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?: \S+)?"),
    "t": ("time", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \S+)?"), "n": ("epoch", r"\d+\.\d+"),
    "s": (None, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \S+)?"), "v": (None, r"\S*"),
    "x": (None, r"\d+"), "Q": (None, r"-?\d+"),
}
_MESSAGE = r"(?:LOG|STATEMENT|ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|DEBUG\d?|DETAIL|HINT|" \
           r"CONTEXT|QUERY|LOCATION):  (?P<message>.*)\Z"


@dataclass(frozen=True)
class LinePrefix:
    """A stderr line read with the server's own log_line_prefix, twice: free-text fields
    matched as short as possible, then as long as possible (a name is 63 bytes at most).
    Where the two readings differ, a name or application_name (or the statement's first
    words) holds what the prefix writes after it: the line's user, database and application
    are then unknown, never guessed, and its statement is read as the short reading finds
    it."""

    lazy: re.Pattern[str]
    greedy: re.Pattern[str]

    @classmethod
    def compile(cls, prefix: str) -> LinePrefix:
        def build(lazy: bool) -> re.Pattern[str]:
            out, seen, i, optional = [], set(), 0, 0
            while i < len(prefix):
                m = re.match(r"%(-?\d+)?([A-Za-z%])", prefix[i:])
                if prefix[i] != "%" or not m:
                    out.append(re.escape(prefix[i]))
                    i += 1
                    continue
                i += m.end()
                esc = m.group(2)
                if esc == "%":
                    out.append("%")
                    continue
                if esc == "q":  # the rest is written only for session processes
                    out.append("(?:")
                    optional += 1
                    continue
                name, pattern = _ESCAPES.get(esc, (None, ".{0,63}"))
                if lazy and pattern.startswith(".{"):
                    pattern += "?"
                pad = r"\s*" if m.group(1) else ""
                if name and name not in seen:
                    seen.add(name)
                    out.append(f"{pad}(?P<{name}>{pattern}){pad}")
                else:
                    out.append(f"{pad}(?:{pattern}){pad}")
            out.append(")?" * optional)
            return re.compile("".join(out) + _MESSAGE, re.S)

        return cls(build(lazy=True), build(lazy=False))

    def read(self, line: str) -> tuple[dict[str, str | None], str, bool] | None:
        """(fields, message, ambiguous), or None when the line does not start with the
        prefix and a message (a continuation, or another process's line)."""
        a, b = self.lazy.match(line), self.greedy.match(line)
        if a is None or b is None:
            return None
        keys = [k for k in ("user", "db", "app", "session", "time", "epoch")
                if k in self.lazy.groupindex]
        fields: dict[str, str | None] = {k: a.group(k) for k in keys}
        same = all(a.group(k) == b.group(k) for k in keys) and \
            a.group("message") == b.group("message")
        if not same:
            fields.update(user=None, db=None, app=None)
        return fields, a.group("message"), not same


#: A logged statement's message (stderr after its prefix, csvlog's and jsonlog's field).
_STATEMENT = re.compile(r"(?:duration: [\d.]+ ms\s+)?(?:statement|execute [^:]*):\s?(.*)\Z",
                        re.S)


def _stderr(path: Path, lines: list[str], tz: tzinfo | None,
            prefix: LinePrefix | None) -> tuple[list[LogEvent], int, int]:
    """Events, statements whose time was unreadable, and lines the prefix reads two ways."""
    events: list[LogEvent] = []
    unparsed = ambiguous = 0
    pending: tuple[datetime | None, list[str], dict[str, str | None], int] | None = None

    def flush() -> None:
        nonlocal unparsed
        if pending is None:
            return
        when, parts, fields, n = pending
        text = "\n".join(parts)
        if when is None:
            unparsed += statement_kind(text) is not None
            return
        # Parsed once, here: a statement that is neither DDL nor destructive gives no event.
        events.extend(_events(when, text, fields["user"], fields["db"], fields["app"],
                              fields["session"], f"{path.name}:{n}"))

    for n, line in enumerate(lines, start=1):
        if line.startswith("\t") and pending is not None:
            pending[1].append(line[1:])
            continue
        if prefix is not None:
            read = prefix.read(line)
            if read is None:
                continue
            flush()
            pending = None
            fields, message, two_ways = read
            s = _STATEMENT.match(message)
            if not s:
                continue
            ambiguous += two_ways
            stamp = fields.get("time")
            m = _TS.match(stamp) if stamp else None
            if m:
                when = _parse_time(m.group(1), m.group(2), tz)
            elif fields.get("epoch"):
                when = datetime.fromtimestamp(float(fields["epoch"] or 0), UTC)
            else:
                when = None
            pending = (when, [s.group(1)], {k: fields.get(k) for k in
                                            ("user", "db", "app", "session")}, n)
            continue
        # No log_line_prefix: the time at the start of the line and the statement; nothing
        # of the prefix is attributed (any part of it may be an application_name).
        m = _TS.match(line)
        if not m:
            continue
        flush()
        pending = None
        s = _STMT.search(line)
        if not s:
            continue
        pending = (_parse_time(m.group(1), m.group(2), tz), [s.group(1)],
                   {"user": None, "db": None, "app": None, "session": None}, n)
    flush()
    return events, unparsed, ambiguous


def _csvlog(path: Path, text: str, tz: tzinfo | None) -> tuple[list[LogEvent], int]:
    events, unparsed = [], 0
    # The csv module reads quoted fields across line ends itself (newline="": a \r inside
    # a statement stays in it).
    for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if len(row) < 14:
            continue
        msg = row[13]
        s = _STATEMENT.match(msg)
        app = row[22] if len(row) > 22 else ""
        if not s:
            continue
        m = _TS.match(row[0])
        when = _parse_time(m.group(1), m.group(2), tz) if m else None
        if when is None:
            unparsed += statement_kind(s.group(1)) is not None
            continue
        # csvlog columns: 1 user, 2 database, 3 process id, 22 application_name
        events += _events(when, s.group(1), row[1], row[2], app, row[3], f"{path.name}:{n}")
    return events, unparsed


def _jsonlog(path: Path, lines: list[str], tz: tzinfo | None) -> tuple[list[LogEvent], int]:
    events, unparsed = [], 0
    for n, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        msg = str(rec.get("message", ""))
        s = _STATEMENT.match(msg)
        app = str(rec.get("application_name", ""))
        if not s:
            continue
        m = _TS.match(str(rec.get("timestamp", "")))
        when = _parse_time(m.group(1), m.group(2), tz) if m else None
        if when is None:
            unparsed += statement_kind(s.group(1)) is not None
            continue
        pid = rec.get("pid")
        events += _events(when, s.group(1), rec.get("user"), rec.get("dbname"), app,
                          str(pid) if pid is not None else None, f"{path.name}:{n}")
    return events, unparsed


def read_server_logs(paths: list[Path], log_tz: str | None = None,
                     own: OwnSession | None = None,
                     line_prefix: str | None = None) -> ServerLog:
    """``line_prefix``: the server's log_line_prefix, for stderr files (None: not known)."""
    from reportgen.timezones import parse_tz

    tz = parse_tz(log_tz) if log_tz else None
    prefix = LinePrefix.compile(line_prefix) if line_prefix else None
    structured: list[LogEvent] = []
    plain: list[LogEvent] = []
    files, notes = [], []
    total = unparsed = ambiguous = 0
    formats = set()
    for p in paths:
        try:
            # Bytes, split at \n only: text mode would turn a \r inside a statement into a
            # line end, and a forged line could follow it.
            text = Path(p).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"{p}: cannot read server log ({exc.strerror})") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        total += len(lines)
        first = next((ln for ln in lines if ln.strip()), "")
        if str(p).endswith(".json") or first.startswith("{"):
            fmt, (ev, bad) = "jsonlog", _jsonlog(Path(p), lines, tz)
            structured += ev
        elif str(p).endswith(".csv"):
            fmt, (ev, bad) = "csvlog", _csvlog(Path(p), text, tz)
            structured += ev
        else:
            fmt = "stderr"
            ev, bad, two_ways = _stderr(Path(p), lines, tz, prefix)
            plain += ev
            ambiguous += two_ways
        formats.add(fmt)
        files.append(f"{p} ({fmt}, {len(ev)} events)")
        unparsed += bad
    events = structured + _not_in(plain, structured)
    if len(events) < len(structured) + len(plain):
        notes.append(f"{len(structured) + len(plain) - len(events)} stderr statement(s) also "
                     "in the csvlog/jsonlog given were read from those (their fields are "
                     "named there)")
    if formats & {"csvlog", "jsonlog"}:
        notes.append(f"{' and '.join(sorted(formats & {'csvlog', 'jsonlog'}))} read: user, "
                     "database and application are the server's own named fields")
    notes.append("the log holds what log_statement covered when it was written: a statement "
                 "missing from it is not proof it never ran")
    if "stderr" in formats:
        notes.append(
            f"stderr log read with the server's log_line_prefix {line_prefix!r}: user and "
            "database come from its %u and %d; csvlog or jsonlog name every field and are "
            "the better evidence (log_destination)" if prefix is not None else
            "stderr log read without the server's log_line_prefix (not collected from the "
            "server that wrote it): times and statements only, no user or database (any "
            "part of a prefix may be an application_name)")
    if ambiguous:
        notes.append(f"{ambiguous} stderr line(s) read two ways with log_line_prefix (a "
                     "name or application_name holding what the prefix writes after it): "
                     "their user and database are unknown")
    if unparsed:
        notes.append(f"{unparsed} statement(s) had a time whose zone is not UTC or a numeric "
                     "offset: pass --log-tz with the server's log_timezone")
    # Whose writes the log records at all (log_statement 'mod' or 'all'): only there does
    # a write missing from the log say anything.
    write_dbs = sorted({e.database or "" for e in events if e.kind in WRITE_KINDS
                        or e.kind.startswith(("DELETE", "UPDATE"))})
    # Writes are kept only for tables the log also shows dropped: they tell whether a table
    # created within the window held rows when it went.
    dropped = {t.name for e in events if e.kind == "DROP TABLE" for t in e.tables}
    events = [e for e in events if e.kind not in WRITE_KINDS
              or any(t.name in dropped for t in e.tables)]
    catalog = [e for e in events if e.kind == "CATALOG QUERY"]
    if len(catalog) > MAX_CATALOG_QUERIES:  # monitoring tools list tables all day long
        notes.append(f"{len(catalog)} catalog queries (SELECTs listing tables) found; the "
                     f"latest {MAX_CATALOG_QUERIES} are kept")
        dropped_ids = {id(e) for e in catalog[:-MAX_CATALOG_QUERIES]}
        events = [e for e in events if id(e) not in dropped_ids]
    if own is not None:
        mine = [e for e in events if own.owns(e.session, e.time)]
        if mine:
            notes.append(f"{len(mine)} statement(s) of reportgen's own session (pid {own.pid}) "
                         "left out")
            events = [e for e in events if not own.owns(e.session, e.time)]
    # Same-millisecond events keep the log's own order: file, then line number (as a number:
    # "pg:100" follows "pg:99").
    events.sort(key=lambda e: (e.time, e.source.rpartition(":")[0],
                               int(e.source.rpartition(":")[2] or 0)))
    if len(events) > MAX_EVENTS:
        notes.append(f"{len(events)} events found; the latest {MAX_EVENTS} are kept")
        events = events[-MAX_EVENTS:]
    return ServerLog(files=files, lines_read=total, unparsed=unparsed, events=events,
                     write_databases=write_dbs, notes=notes)


def _not_in(plain: list[LogEvent], structured: list[LogEvent]) -> list[LogEvent]:
    """The stderr events no csvlog/jsonlog event repeats (same second and statement): when
    the server writes both, the named fields are read."""
    seen = {(e.time.replace(microsecond=0), e.statement) for e in structured}
    return [e for e in plain if (e.time.replace(microsecond=0), e.statement) not in seen]
