"""The numbers scripts and CI read: diff's exit code and JSON, --fail-on on a healthy
database (real PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys


def rg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, timeout=120)


def test_diff_exits_1_when_bundles_differ_and_speaks_json(db, tmp_path):
    db.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2); "
               "CREATE TABLE keep (id int)")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert rg("collect", "--dsn", db.dsn, "--exact-counts", "-o", str(a)).returncode == 0
    same = rg("diff", str(a), str(a))
    assert same.returncode == 0 and "no differences" in same.stdout
    db.execute("DROP TABLE orders; TRUNCATE keep")
    assert rg("collect", "--dsn", db.dsn, "--exact-counts", "-o", str(b)).returncode == 0
    changed = rg("diff", str(a), str(b))
    assert changed.returncode == 1 and "- table public.orders" in changed.stdout
    out = rg("diff", str(a), str(b), "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["differ"] is True and data["tables_dropped"] == ["public.orders"]
    assert json.loads(rg("diff", str(a), str(a), "--json").stdout)["differ"] is False


def test_a_healthy_database_passes_every_gate_but_low(db, tmp_path):
    db.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); ANALYZE t")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", db.dsn, "--format", "md", "--out", str(out), "--fail-on",
             "MEDIUM")
    assert res.returncode == 0, res.stderr
    a = json.loads((out / "assessment.json").read_text())
    assert a["risks"]["data"] == "LOW" and a["data_loss"] == "unknown"
    gap = next(f for f in a["findings"] if f["id"] == "data.no_baseline")
    assert gap["severity"] == "LOW"


def test_fail_on_low_passes_with_no_finding(demo_bundle):
    """Risk levels start at LOW; the gate looks at findings, so none at all never fails."""
    from reportgen.analyze import analyze
    from reportgen.cli.exits import gate as _gate

    assert _gate(analyze(demo_bundle).model_copy(update={"findings": []}), "LOW") == 0


def test_no_django_steps_for_a_database_django_does_not_migrate(db, tmp_path):
    db.execute("CREATE TABLE orders (id int); CREATE TABLE alembic_version (version_num text);"
               "INSERT INTO alembic_version VALUES ('abc')")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", db.dsn, "--format", "md", "--out", str(out))
    assert res.returncode == 0, res.stderr
    md = (out / "report.md").read_text()
    assert "manage.py" not in md and "PASS --project" not in md


def test_a_restore_beyond_the_window_is_ruled_out_not_recommended(demo_bundle):
    from reportgen.analyze import analyze
    from reportgen.render.markdown import render_markdown
    from reportgen.render.view import RenderOptions
    from reportgen.timeline_file import load_timeline
    from tests.conftest import FIXTURES

    a = analyze(demo_bundle, timeline=load_timeline(FIXTURES / "demo-timeline.csv"))
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    assert pitr.ruled_out and "no longer possible" in pitr.ruled_out and not pitr.recommended
    md = render_markdown(demo_bundle, a, RenderOptions())
    section = md.split("Neon point-in-time branch", 1)[1].split("### Option", 1)[0]
    assert "NOT POSSIBLE" in section and "Data-loss risk" not in section
    assert "while it is inside the retention window" not in md


def test_timeline_entries_that_cannot_be_right_are_flagged(db, tmp_path):
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); INSERT INTO django_migrations (app, name, applied) VALUES "
               "('shop', '0001_initial', '2026-03-01 10:00+00')")
    tl = tmp_path / "t.csv"
    tl.write_text("time,event\n2020-01-01T00:00:00+00:00,too early\n"
                  "2099-01-01T00:00:00+00:00,too late\n2026-06-01T00:00:00+00:00,plausible\n")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", db.dsn, "--timeline", str(tl), "--format", "md", "--out",
             str(out))
    assert res.returncode == 0, res.stderr
    entries = {e["event"]: e["flag"] for e in json.loads(
        (out / "assessment.json").read_text())["timeline"] if e["source"].startswith("timeline")}
    assert "after this collection" in entries["too late"]
    assert "first recorded migration" in entries["too early"]
    assert entries["plausible"] is None
    assert "CHECK: dated after" in (out / "report.md").read_text()
    # The test server started minutes ago: after two of the responder's events.
    started = next(e["event"] for e in json.loads((out / "assessment.json").read_text())[
        "timeline"] if e["source"] == "pg_postmaster_start_time()")
    assert "after 2 event(s) above: the server restarted since" in started


def test_a_provider_guessed_from_the_host_name_alone_says_so(db, tmp_path):
    """A Neon host name dialled at 127.0.0.1, on a server with none of Neon's roles or
    settings: 'Neon by host name only', and the restore steps say what they rest on."""
    dsn = (f"host=ep-quiet-pond-123456.us-east-2.aws.neon.tech hostaddr=127.0.0.1 "
           f"port={db.server.port} dbname={db.name} user=postgres password={db.server.password}"
           " sslmode=disable")
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); CREATE TABLE shop_order (id int)")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", dsn, "--format", "md", "--out", str(out))
    assert res.returncode == 0, res.stderr
    b = json.loads((out / "evidence.json").read_text())
    provider = b["identity"]["provider"]
    assert provider["name"] == "neon" and provider["confirmed_by_server"] is False
    md = (out / "report.md").read_text()
    assert "by host name only, not confirmed by the server" in md
