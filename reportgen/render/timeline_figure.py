"""Layout of the timeline figure (the template draws it): rows in time order, one lane per
kind of source, long quiet stretches collapsed into a 'gap' row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any

from reportgen.analyze.model import TimelineEntry

LANES = [("responder", "Responder", "#1565c0"), ("records", "Records", "#6a1b9a"),
         ("log", "Server log", "#c62828"), ("server", "Server", "#2e7d32"),
         ("reportgen", "reportgen", "#555555")]
ROW = 15
LANE_W = 58
TOP = 26
GAP = timedelta(days=2)
MAX_ROWS = 60
TEXT_CHARS = 72


def lane_of(e: TimelineEntry) -> str:
    s = e.source
    if s.startswith("timeline file"):
        return "responder"
    if s.startswith("django_migrations"):
        return "records"
    if s.startswith("server log"):
        return "log"
    if s.startswith("pg_"):
        return "server"
    return "reportgen"


@dataclass
class Figure:
    width: int = 700
    height: int = 0
    text_x: int = 0
    lanes: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def layout(entries: list[TimelineEntry], tz: tzinfo) -> Figure | None:
    if not entries:
        return None
    fig = Figure()
    used = [lane for lane in LANES if any(lane_of(e) == lane[0] for e in entries)]
    lane_x = {}
    for i, (key, label, color) in enumerate(used):
        x = 150 + i * LANE_W
        lane_x[key] = (x, color)
        fig.lanes.append({"x": x, "label": label, "color": color, "key": key})
    fig.text_x = 150 + len(used) * LANE_W - 24
    half = MAX_ROWS // 2
    shown: list[TimelineEntry | None] = list(entries)
    if len(entries) > MAX_ROWS:  # None marks the cut
        shown = [*entries[:half], None, *entries[-half:]]
    y = TOP
    prev: TimelineEntry | None = None
    for e in shown:
        if e is None:
            fig.rows.append({"gap": f"… {len(entries) - 2 * half} events left out", "y": y})
            y += ROW
            prev = None
            continue
        if prev is not None and e.time - prev.time > GAP:
            fig.rows.append({"gap": f"… {_span(e.time - prev.time)} later", "y": y})
            y += ROW
        x, color = lane_x[lane_of(e)]
        text = e.event if len(e.event) <= TEXT_CHARS else e.event[:TEXT_CHARS - 1] + "…"
        fig.rows.append({"gap": None, "y": y, "x": x, "color": color, "lane": lane_of(e),
                         "time": e.time.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                         "approximate": e.approximate, "text": text})
        y += ROW
        prev = e
    fig.height = y + 4
    return fig


def _span(d: timedelta) -> str:
    days = d.days
    if days >= 60:
        return f"{days // 30} months"
    if days >= 2:
        return f"{days} days"
    return f"{int(d.total_seconds() // 3600)} hours"
