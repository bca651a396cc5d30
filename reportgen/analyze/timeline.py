"""The timeline: the responder's file, migration records, the server, and the collection."""

from __future__ import annotations

from datetime import datetime, timedelta

from reportgen.analyze.model import TimelineEntry
from reportgen.bundle import EvidenceBundle, LogEvent

GROUP_WINDOW = timedelta(minutes=2)
MAX_RECORD_GROUPS = 8
MAX_LOG_EVENTS = 100


def build_timeline(bundle: EvidenceBundle, responder: list[TimelineEntry],
                   log_events: list[LogEvent]) -> list[TimelineEntry]:
    """``log_events``: the server log's events of this database (context.this_database).
    SELECTs that list tables (catalog queries) are weighed by the hypotheses, not listed."""
    log_events = [e for e in log_events if e.kind != "CATALOG QUERY"]
    dj = bundle.migrations.django if bundle.migrations else None
    first = min((r.applied for r in dj.records if r.applied), default=None) if dj else None
    entries = [e.model_copy(update={"flag": _flag(bundle, e, first)}) for e in responder]
    if dj and dj.records:
        recs = sorted((r for r in dj.records if r.applied), key=lambda r: r.applied)  # type: ignore[arg-type,return-value]
        groups: list[list] = []  # type: ignore[type-arg]
        for r in recs:
            if groups and r.applied - groups[-1][-1].applied <= GROUP_WINDOW:
                groups[-1].append(r)
            else:
                groups.append([r])
        for g in groups[-MAX_RECORD_GROUPS:]:
            apps = sorted({r.app for r in g})
            what = (f"{g[0].app}.{g[0].name} recorded as applied" if len(g) == 1 else
                    f"{len(g)} migrations recorded as applied ({', '.join(apps)})")
            entries.append(TimelineEntry(time=g[-1].applied, event=what,
                                         source="django_migrations.applied"))
        if len(groups) > MAX_RECORD_GROUPS:
            older = sum(len(g) for g in groups[:-MAX_RECORD_GROUPS])
            entries.append(TimelineEntry(
                time=groups[-MAX_RECORD_GROUPS - 1][-1].applied,
                event=f"{older} earlier migration records (up to this time)",
                source="django_migrations.applied"))
    if log_events:
        shown = log_events[-MAX_LOG_EVENTS:]
        for e in shown:
            who = ", ".join(x for x in (f"user {e.user}" if e.user else "",
                                        f"app {e.application}" if e.application else "") if x)
            entries.append(TimelineEntry(
                time=e.time, event=f"{e.kind}: {e.statement[:200]}" + (f" ({who})" if who else ""),
                source=f"server log ({e.source})"))
        if len(log_events) > len(shown):
            entries.append(TimelineEntry(
                time=log_events[-len(shown)].time,
                event=f"{len(log_events) - len(shown)} earlier server-log events not shown",
                source="server log"))
    ident = bundle.identity
    if ident and ident.postmaster_start_time:
        started = ident.postmaster_start_time
        earlier = sum(1 for e in responder if e.time < started) + sum(
            1 for e in log_events if e.time < started)
        since = (f" — after {earlier} event(s) above: the server restarted since they "
                 "happened, so the sessions and locks of that time are gone, and a crash "
                 "restart also reset the activity counters (pg_stat) this report reads"
                 if earlier else "")
        entries.append(TimelineEntry(time=started,
                                     event="Database server (postmaster) started" + since,
                                     source="pg_postmaster_start_time()"))
    c = bundle.collection
    entries.append(TimelineEntry(time=c.started_at, event="reportgen collection started "
                                 "(read-only snapshot)", source="evidence bundle"))
    entries.append(TimelineEntry(time=c.finished_at, event="reportgen collection finished",
                                 source="evidence bundle"))
    return sorted(entries, key=lambda e: (e.time, e.source, e.event))


def _flag(bundle: EvidenceBundle, e: TimelineEntry, first: datetime | None) -> str | None:
    """A responder's time that cannot be right: after the collection ended, or before the
    database's first recorded migration (``first``, the earliest sign it existed)."""
    if e.time > bundle.collection.finished_at:
        return "dated after this collection ended: check its clock or time zone"
    if first is not None and e.time < first:
        when = first.strftime("%Y-%m-%d %H:%M")
        return (f"dated before the database's first recorded migration ({when} UTC): check "
                "its clock or time zone")
    return None
