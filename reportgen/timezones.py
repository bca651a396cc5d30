"""Time zones as a responder writes them ("UTC+6", "+06:00", "Asia/Dhaka"): read by the
collectors (server-log times), the archive and the renderers alike, so it lives below all
of them."""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reportgen.errors import InputError


def parse_tz(spec: str | None) -> tzinfo:
    """'UTC', 'UTC+6', '+06:00', '-0330' or an IANA name like 'Asia/Dhaka'."""
    if not spec or spec.upper() in ("UTC", "Z"):
        return UTC
    m = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", spec.strip(), re.I)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        if delta > timedelta(hours=14):
            raise InputError(f"time zone {spec!r}: offset larger than 14 hours")
        return timezone(sign * delta, name=_offset_name(sign * delta))
    try:
        return ZoneInfo(spec)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {spec!r}: use UTC, an offset like UTC+6 or "
                         "+06:00, or an IANA name like Asia/Dhaka") from None


def _offset_name(delta: timedelta) -> str:
    total = int(delta.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    h, m = divmod(abs(total), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")
