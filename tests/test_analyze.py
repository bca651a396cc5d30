"""The analyzer on fixture bundles: no database involved."""

from __future__ import annotations

import ast
import json
import shlex

from reportgen.analyze import analyze
from reportgen.analyze.reconcile import record_command
from reportgen.bundle import parse_bundle
from reportgen.render.markdown import render_markdown
from reportgen.render.view import RenderOptions
from reportgen.timeline_file import parse_timeline
from tests.conftest import FIXTURES
from tests.helpers import drop_column, drop_table, variant


def _ids(a):
    return {f.id for f in a.findings}


def test_assessment_contract(demo_bundle):
    a = analyze(demo_bundle)
    d = json.loads(a.model_dump_json())
    assert d["schema_version"] == 1
    assert set(d["risks"]) == {"data", "schema", "migration", "production"}
    assert set(d["risks"].values()) <= {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert d["data_loss"] in ("confirmed", "suspected", "none_detected", "unknown")
    for f in d["findings"]:
        assert {"id", "severity", "dimension", "title", "subjects", "evidence"} <= set(f)
        assert f["evidence"], f["id"]


def test_demo_verdicts(demo_bundle):
    a = analyze(demo_bundle)
    assert a.data_loss == "unknown" and a.data_loss_basis == "structure"
    assert a.risks == {"data": "MEDIUM", "schema": "LOW", "migration": "HIGH",
                       "production": "MEDIUM"}
    assert {"migration.records_missing", "migration.dangling_reference",
            "migration.inconsistent_history", "data.no_baseline"} <= _ids(a)
    assert "NO DATA LOSS" not in a.status and "ROW-LEVEL LOSS NOT EXCLUDED" in a.status
    missing = next(f for f in a.findings if f.id == "migration.records_missing")
    assert any("15 row(s) deleted" in e for e in missing.evidence)


def test_demo_safe_to_fake(demo_bundle):
    a = analyze(demo_bundle)
    status = {f"{s.app}.{s.name}": s for s in a.migrations if not s.recorded}
    fake = {k: s.fake for k, s in status.items()}
    assert fake["organizations.0001_initial"] == "safe"
    assert fake["teams.0101_team_name_index"] == "safe"
    # A data migration (RunPython) ran: the migration built on it added a column that is
    # present (order is evidence).
    backfill = status["organizations.0011_backfill_slugs"]
    assert backfill.fake == "safe" and backfill.basis == (
        "ran before organizations.0012_alter_membership_invite_team_fk, whose column "
        "organizations_team_invite.team_id is present")
    # The migration with a dangling reference cannot have run: pending, never recorded.
    competition = status["competition.0001_add_competition_models"]
    assert (competition.state, competition.fake) == ("pending", "unsafe")
    option = next(o for o in a.recovery_options if o.id == "refake_verified")
    assert option.recommended
    joined = "\n".join(shlex.split(c)[-1] for c in option.commands)
    assert '("organizations", "0001_initial")' in joined
    assert '("organizations", "0012_alter_membership_invite_team_fk")' in joined
    assert "competition" not in joined
    assert "INSERT INTO" in (option.script or "") and "0011" in (option.script or "")


def test_record_command_records_exactly_the_plan_in_order():
    plan = [("a", "0001"), ("a", "0002"), ("b", "0001"), ("a", "0003")]
    words = shlex.split(record_command(plan))
    assert words[:4] == ["python", "manage.py", "shell", "-c"] and len(words) == 5
    lists = [n for n in ast.walk(ast.parse(words[4])) if isinstance(n, ast.List)
             and n.elts and isinstance(n.elts[0], ast.Tuple)]
    assert [ast.literal_eval(lists[0])] == [plan]


def test_table_dropped_after_recording_is_critical(demo_bundle_data):
    b = variant(demo_bundle_data, drop_table("tournaments_match"))
    a = analyze(b)
    assert {"schema.recorded_but_missing", "data.tables_missing"} <= _ids(a)
    assert a.risks["data"] == "CRITICAL" and a.data_loss == "suspected"
    assert "TABLES MISSING" in a.status
    lost = next(f for f in a.findings if f.id == "data.tables_missing")
    assert lost.subjects == ["tournaments_match"]
    rec = next(o for o in a.recovery_options if o.recommended)
    assert rec.id == "pitr_new_branch"


def test_relation_dropped_during_collection_is_critical_not_unreadable(demo_bundle_data):
    def vanish(d: dict) -> None:  # type: ignore[type-arg]
        for r in d["inventory"]["relations"]:
            if r["name"] == "teams_chat_message":
                r["readable"] = None
    b = variant(demo_bundle_data, vanish)
    a = analyze(b)
    gone = next(f for f in a.findings if f.id == "production.dropped_during_collection")
    assert gone.severity == "CRITICAL" and gone.subjects == ["public.teams_chat_message"]
    assert "visibility.unreadable_relations" not in _ids(a)
    assert any("dropping objects" in i.text for p in a.action_plan for i in p.items)
    md = render_markdown(b, a, RenderOptions())
    rows = [ln for ln in md.splitlines() if ln.startswith("| `public.teams_chat_message` |")]
    assert any(ln.endswith("| dropped during collection |") for ln in rows)  # the appendix


def test_dropped_column_is_named_and_never_faked(demo_bundle_data):
    b = variant(demo_bundle_data, drop_column("organizations_organization", "slug"))
    a = analyze(b)
    st = next(s for s in a.migrations if s.name == "0008_organization_slug")
    assert st.fake == "unsafe" and "column organizations_organization.slug" in st.missing
    refake = next(o for o in a.recovery_options if o.id == "refake_verified")
    assert all("0008" not in c and "0009" not in c for c in refake.commands)
    assert "'0008_organization_slug'" not in (refake.script or "")
    b2 = variant(demo_bundle_data, drop_column("tournaments_tournament", "name"))
    a2 = analyze(b2)
    broken = next(f for f in a2.findings if f.id == "schema.recorded_but_missing")
    assert "tournaments_tournament.name" in broken.subjects


def test_baseline_comparison(demo_bundle, demo_bundle_data):
    after = variant(demo_bundle_data, drop_table("teams_chat_message"))
    a = analyze(after, baseline=demo_bundle)
    assert a.data_loss == "confirmed" and a.data_loss_basis == "baseline"
    assert "public.teams_chat_message" in a.data_loss_explanation
    same = analyze(demo_bundle, baseline=demo_bundle)
    assert demo_bundle.inventory.exact_counts.counted == 86
    assert same.data_loss == "none_detected"  # exact counts on both sides, nothing lower
    older = parse_bundle((FIXTURES / "demo-evidence-older.json").read_text(), "older.json")
    assert older.inventory.exact_counts is None
    estimates = analyze(older, baseline=older)
    assert estimates.data_loss == "unknown"  # estimates only: row loss not excluded
    assert "--exact-counts" in estimates.data_loss_explanation


def test_schema_version_1_bundle_is_upgraded_by_the_readers(demo_bundle):
    """A bundle of schema version 1 holds the static scan's operations but not the objects
    they create and remove. Analyzed as it is, no migration can be checked; completed by the
    static replay (what the CLI does on load), it reconciles as a new collection of the same
    codebase does."""
    from reportgen.collect.upgrade import upgrade

    older = parse_bundle((FIXTURES / "demo-evidence-older.json").read_text(), "older.json")
    assert older.schema_version == 1 and demo_bundle.schema_version == 2
    as_is = analyze(older)
    assert all(m.state in ("applied", "unverifiable_unrecorded", "ghost_record",
                           "recorded_not_in_scan") for m in as_is.migrations)
    assert any("collect again" in " ".join(m.opaque) for m in as_is.migrations)

    def states(a):
        return [(m.app, m.name, m.state, m.fake, m.missing) for m in a.migrations]

    upgraded = upgrade(older)
    assert upgraded.digest == older.digest and upgraded.schema_version == 1
    assert all(m.creates is not None for m in upgraded.codebase.migrations)
    assert states(analyze(upgraded)) == states(analyze(demo_bundle))
    assert states(analyze(upgraded)) != states(as_is)


def test_no_codebase_means_nothing_called_missing(demo_bundle_data):
    b = variant(demo_bundle_data, lambda d: d.update(codebase=None))
    a = analyze(b)
    assert not {i for i in _ids(a) if "missing" in i}
    assert "NO EXPECTED STATE" in a.status
    assert any("No codebase was scanned" in g for g in a.evidence_gaps)


def test_failed_inventory_is_unknown_not_fine(demo_bundle_data):
    def fail(d):
        d["inventory"] = None
        for c in d["collection"]["collectors"]:
            if c["name"] == "inventory":
                c["status"], c["error"] = "error", "QueryCanceled: statement timeout"
    a = analyze(variant(demo_bundle_data, fail))
    assert a.data_loss == "unknown" and "EVIDENCE INCOMPLETE" in a.status
    assert a.risks["schema"] == "HIGH"


def test_timeline_merges_sources_in_order(demo_bundle):
    events = parse_timeline((FIXTURES / "demo-timeline.csv").read_text(), "t.csv")
    a = analyze(demo_bundle, timeline=events)
    times = [e.time for e in a.timeline]
    assert times == sorted(times)
    sources = {e.source.split(" (")[0] for e in a.timeline}
    assert {"timeline file", "django_migrations.applied", "evidence bundle"} <= sources
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    assert "--parent 2026-02-01T14:29:00Z" in "\n".join(pitr.commands)
