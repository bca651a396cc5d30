"""The responder's timeline file: CSV with a header ``time,event,source,approximate``.

- ``time``: ISO 8601 with an offset (``2026-02-01T14:30:00+00:00`` or ``...+06:00``); a time
  without an offset is refused, since a guess at the zone would move the restore point;
- ``event``: what happened; ``source``: where the responder knows it from (shell history,
  deploy log, chat...); ``approximate``: ``yes``/``no`` (optional, default ``no``).
Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from reportgen.bundle import TimelineEntry
from reportgen.errors import InputError

REQUIRED = ("time", "event")
TRUE = {"yes", "y", "true", "1", "approx", "approximate"}
FALSE = {"no", "n", "false", "0", ""}
MAX_BYTES = 5 * 1024 * 1024


#: The source of the entry --incident-start makes (context.incident_start reads it back).
INCIDENT_START_SOURCE = "timeline file (--incident-start)"


def start_entry(text: str) -> TimelineEntry:
    """``--incident-start TIME``: the responder's word for when the incident began."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--incident-start {text!r} is not ISO 8601 "
                         "(e.g. 2026-02-01T14:30:00+00:00)") from None
    if when.tzinfo is None:
        raise InputError(f"--incident-start {text!r} has no UTC offset; add one "
                         "(+00:00, +06:00, Z)")
    return TimelineEntry(time=when.astimezone(UTC), event="the incident began (as given)",
                         source=INCIDENT_START_SOURCE)


def load_timeline(path: str | Path) -> list[TimelineEntry]:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise InputError(f"{p}: timeline file larger than 5 MiB; is it the right file?")
        text = p.read_text("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: no such timeline file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: timeline file is not UTF-8 text") from None
    return parse_timeline(text, str(p))


def parse_timeline(text: str, name: str) -> list[TimelineEntry]:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise InputError(f"{name}: timeline header must include time,event "
                         f"(found: {','.join(header) or 'nothing'})")
    reader.fieldnames = header
    out = []
    for n, row in enumerate(reader, start=2):
        if None in row:
            raise InputError(f"{name}: line {n}: more fields than the header; quote events "
                             "that contain commas")
        raw = (row.get("time") or "").strip()
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{name}: line {n}: time {raw!r} is not ISO 8601 "
                             "(e.g. 2026-02-01T14:30:00+00:00)") from None
        if when.tzinfo is None:
            raise InputError(f"{name}: line {n}: time {raw!r} has no UTC offset; add one "
                             "(+00:00, +06:00, Z)")
        event = (row.get("event") or "").strip()
        if not event:
            raise InputError(f"{name}: line {n}: empty event")
        approx = (row.get("approximate") or "").strip().lower()
        if approx not in TRUE | FALSE:
            raise InputError(f"{name}: line {n}: approximate must be yes or no, not {approx!r}")
        out.append(TimelineEntry(time=when.astimezone(UTC), event=event,
                                 source=f"timeline file ({(row.get('source') or '').strip()})"
                                 if (row.get("source") or "").strip() else "timeline file",
                                 approximate=approx in TRUE))
    return out
