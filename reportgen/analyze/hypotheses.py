"""Root-cause hypotheses, each weighed with the evidence for and against it."""

from __future__ import annotations

from reportgen.analyze.context import Context
from reportgen.analyze.model import Finding, Hypothesis, TimelineEntry


def _verdict(for_: list[str], against: list[str]) -> str:
    if for_ and not against:
        return "supported"
    if against and not for_:
        return "contradicted"
    return "open"


def build_hypotheses(ctx: Context, findings: list[Finding],
                     timeline: list[TimelineEntry]) -> list[Hypothesis]:
    ids = {f.id: f for f in findings}
    out: list[Hypothesis] = []
    responder = [e for e in timeline if e.source.startswith("timeline file")]

    def mentions(*words: str) -> list[str]:
        return [f"timeline {e.time:%Y-%m-%d %H:%M} UTC: {e.event}" for e in responder
                if any(w in e.event.lower() for w in words)]

    if "migration.records_missing" in ids:
        f = ids["migration.records_missing"]
        for_ = [e for e in f.evidence if "django_migrations rows" in e or "deleted" in e]
        for_ += mentions("clear", "delete", "removed")
        against = []
        if not any("deleted from" in e for e in f.evidence):
            against.append("pg_stat_all_tables shows no deleted rows in django_migrations "
                           "(statistics may have been reset)")
        out.append(Hypothesis(
            title="Migration records were deleted from django_migrations",
            verdict=_verdict(for_, against),
            evidence_for=for_, evidence_against=against))
        never_for = [] if for_ else ["no record of these apps in django_migrations"]
        never_against = [e for e in f.evidence if "deleted from" in e]
        out.append(Hypothesis(
            title="The migrations were never recorded (schema created another way)",
            verdict=_verdict(never_for, never_against),
            evidence_for=never_for, evidence_against=never_against))
    structural = list(ids["data.tables_missing"].evidence) if "data.tables_missing" in ids else []
    dropped_for = structural + mentions("drop table", "dropped")
    dropped_against = []
    if ctx.rec is not None and ctx.live is not None:
        live = ctx.live
        expected = sorted(t for t, key in ctx.rec.created_by.items()
                          if t in ctx.rec.expected_tables and _was_applied(ctx, key))
        present = [t for t in expected if t in live]
        if expected and len(present) == len(expected):
            dropped_against.append(f"all {len(expected)} tables created by recorded or "
                                   "schema-present migrations exist (pg_class)")
    if dropped_for:
        if structural and not dropped_against:
            verdict = "supported"
        elif dropped_against and not structural:
            verdict = "contradicted"
        else:
            verdict = "open"
        out.append(Hypothesis(
            title="Tables were dropped (e.g. by a script containing DROP TABLE)",
            verdict=verdict,
            evidence_for=dropped_for, evidence_against=dropped_against))
    for f in findings:
        if f.id == "migration.dangling_reference":
            out.append(Hypothesis(
                title=f"A code defect: {f.subjects[0]} references a model that does not exist",
                verdict="supported", evidence_for=f.evidence + mentions("organizations_team",
                                                                       "needs", "failed"),
                evidence_against=[]))
    gap = ids.get("visibility.information_schema_gap")
    saw_none = mentions("found 0") + (gap.evidence if gap else [])
    if saw_none:
        out.append(Hypothesis(
            title="A script saw 'no tables' because of its query, not because tables were gone",
            verdict="open" if not dropped_against else "supported",
            evidence_for=saw_none + dropped_against, evidence_against=structural))
    return out


def _was_applied(ctx: Context, key: tuple[str, str]) -> bool:
    assert ctx.rec is not None
    st = next((s for s in ctx.rec.statuses if (s.app, s.name) == key), None)
    return st is not None and (st.recorded or st.state in (
        "schema_present_unrecorded", "unverifiable_unrecorded"))
