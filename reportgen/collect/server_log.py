"""PostgreSQL server logs (``--server-log FILE``): DDL and destructive statements, with time,
user, database and application, in any of the server's three formats.

- stderr: a timestamp at the start of the line (``%m`` or ``%t`` in log_line_prefix), then
  ``LOG:  statement: ...`` / ``execute <name>: ...`` / ``duration: ... statement: ...``;
  continuation lines start with a tab. User/database/application are read from ``user=``,
  ``db=``, ``app=`` or ``%u@%d`` in the prefix when present.
- csvlog (``*.csv``) and jsonlog (``*.json``, PostgreSQL 15+): the fields are named.
Times carry their zone in the log (log_timezone); a zone abbreviation other than UTC/GMT or a
numeric offset needs ``--log-tz``.
"""

from __future__ import annotations

import csv
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


def _stderr(path: Path, lines: list[str], tz: tzinfo | None) -> tuple[list[LogEvent], int]:
    events: list[LogEvent] = []
    unparsed = 0
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
        m = _TS.match(line)
        if not m:
            continue
        flush()
        pending = None
        s = _STMT.search(line)
        if not s:
            continue
        # Only the line's prefix (before "LOG:  statement:") holds the session's fields: the
        # statement's own text (a comment saying user=ceo) never does.
        prefix = line[:s.start()]
        fields = {"user": _kv(prefix, "user") or _at(prefix, 0),
                  "db": _kv(prefix, "db") or _at(prefix, 1), "app": _kv(prefix, "app"),
                  "session": _pid(prefix)}
        pending = (_parse_time(m.group(1), m.group(2), tz), [s.group(1)], fields, n)
    flush()
    return events, unparsed


def _kv(line: str, key: str) -> str | None:
    m = re.search(rf"\b{key}=([^\s,\]]+)", line)
    return m.group(1) if m and m.group(1) not in ("[unknown]", "") else None


def _pid(prefix: str) -> str | None:
    m = re.search(r"\[(\d+)\]", prefix)
    return m.group(1) if m else None


def _at(line: str, i: int) -> str | None:
    m = re.search(r"\]\s+(?:\S+\s+)?([\w.-]+)@([\w.-]+)\s", line)
    return m.group(i + 1) if m else None


def _csvlog(path: Path, text: str, tz: tzinfo | None) -> tuple[list[LogEvent], int]:
    events, unparsed = [], 0
    for n, row in enumerate(csv.reader(text.splitlines(keepends=True)), start=1):
        if len(row) < 14:
            continue
        msg = row[13]
        s = re.match(r"(?:duration: [\d.]+ ms\s+)?(?:statement|execute [^:]*):\s?(.*)$", msg,
                     re.S)
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
        s = re.match(r"(?:duration: [\d.]+ ms\s+)?(?:statement|execute [^:]*):\s?(.*)$", msg,
                     re.S)
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
                     own: OwnSession | None = None) -> ServerLog:
    from reportgen.render.environment import parse_tz

    tz = parse_tz(log_tz) if log_tz else None
    events: list[LogEvent] = []
    files, notes = [], []
    total = unparsed = 0
    for p in paths:
        try:
            text = Path(p).read_text("utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"{p}: cannot read server log ({exc.strerror})") from None
        lines = text.splitlines()
        total += len(lines)
        first = next((ln for ln in lines if ln.strip()), "")
        if str(p).endswith(".json") or first.startswith("{"):
            fmt, (ev, bad) = "jsonlog", _jsonlog(Path(p), lines, tz)
        elif str(p).endswith(".csv"):
            fmt, (ev, bad) = "csvlog", _csvlog(Path(p), text, tz)
        else:
            fmt, (ev, bad) = "stderr", _stderr(Path(p), lines, tz)
        files.append(f"{p} ({fmt}, {len(ev)} events)")
        events += ev
        unparsed += bad
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
