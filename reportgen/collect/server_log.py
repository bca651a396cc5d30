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
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from reportgen.bundle import LogEvent, ServerLog
from reportgen.collect.signals import classify
from reportgen.errors import InputError

MAX_EVENTS = 5000
_TS = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)"
                 r"(?:\s*([A-Za-z]{1,5}|[+-]\d\d(?::?\d\d)?))?")
_STMT = re.compile(r"(?:LOG|STATEMENT):\s+(?:duration: [\d.]+ ms\s+)?"
                   r"(?:statement|execute [^:]*):\s?(.*)$")
_DDL = re.compile(r"^\s*(create|alter|drop|truncate|grant|revoke|rename|comment\s+on)\b", re.I)
_DELETE = re.compile(r"^\s*delete\s+from\b", re.I)


def statement_kind(text: str) -> str | None:
    kind = classify(text)
    if kind:
        return kind
    if _DELETE.search(text):
        return "DELETE"
    if _DDL.search(text):
        return "DDL"
    return None


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


def _event(time: datetime, text: str, user: str | None, db: str | None, app: str | None,
           source: str) -> LogEvent | None:
    kind = statement_kind(text)
    if kind is None:
        return None
    return LogEvent(time=time, kind=kind, statement=" ".join(text.split())[:500],
                    user=user or None, database=db or None, application=app or None,
                    source=source)


def _stderr(path: Path, lines: list[str], tz: tzinfo | None) -> tuple[list[LogEvent], int]:
    events: list[LogEvent] = []
    unparsed = 0
    pending: tuple[datetime | None, list[str], str, str, str, int] | None = None

    def flush() -> None:
        nonlocal unparsed
        if pending is None:
            return
        when, parts, user, db, app, n = pending
        text = "\n".join(parts)
        if statement_kind(text) is None:
            return
        if when is None:
            unparsed += 1
            return
        ev = _event(when, text, user, db, app, f"{path.name}:{n}")
        if ev:
            events.append(ev)

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
        if not s or "app=reportgen" in line:
            continue
        user = _kv(line, "user") or _at(line, 0)
        db = _kv(line, "db") or _at(line, 1)
        app = _kv(line, "app")
        pending = (_parse_time(m.group(1), m.group(2), tz), [s.group(1)], user or "",
                   db or "", app or "", n)
    flush()
    return events, unparsed


def _kv(line: str, key: str) -> str | None:
    m = re.search(rf"\b{key}=([^\s,\]]+)", line)
    return m.group(1) if m and m.group(1) not in ("[unknown]", "") else None


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
        if not s or app.startswith("reportgen"):
            continue
        m = _TS.match(row[0])
        when = _parse_time(m.group(1), m.group(2), tz) if m else None
        if when is None:
            unparsed += statement_kind(s.group(1)) is not None
            continue
        ev = _event(when, s.group(1), row[1], row[2], app, f"{path.name}:{n}")
        if ev:
            events.append(ev)
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
        if not s or app.startswith("reportgen"):
            continue
        m = _TS.match(str(rec.get("timestamp", "")))
        when = _parse_time(m.group(1), m.group(2), tz) if m else None
        if when is None:
            unparsed += statement_kind(s.group(1)) is not None
            continue
        ev = _event(when, s.group(1), rec.get("user"), rec.get("dbname"), app,
                    f"{path.name}:{n}")
        if ev:
            events.append(ev)
    return events, unparsed


def read_server_logs(paths: list[Path], log_tz: str | None = None) -> ServerLog:
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
    events.sort(key=lambda e: (e.time, e.source))
    if len(events) > MAX_EVENTS:
        notes.append(f"{len(events)} events found; the latest {MAX_EVENTS} are kept")
        events = events[-MAX_EVENTS:]
    return ServerLog(files=files, lines_read=total, unparsed=unparsed, events=events,
                     notes=notes)
