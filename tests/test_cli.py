"""The command line as a user meets it: exit codes, one-line errors, no traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

BUNDLE = FIXTURES / "demo-evidence.json"
TIMELINE = FIXTURES / "demo-timeline.csv"


def rg(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    e = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=300)


def _one_line_error(res, code: int) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("reportgen: ")]
    assert len(errors) == 1, res.stderr  # progress lines may precede; one error line
    return errors[0]


def test_help_lists_commands_and_exit_codes():
    res = rg("--help")
    assert res.returncode == 0
    for cmd in ("collect", "analyze", "render", "assess", "demo", "diff", "schema"):
        assert cmd in res.stdout
    assert "Exit codes" in res.stdout
    for cmd in ("collect", "analyze", "render", "assess"):
        assert "Example" in rg(cmd, "--help").stdout


def test_analyze_json_and_gate():
    res = rg("analyze", str(BUNDLE), "--json")
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert data["risks"]["migration"] == "HIGH" and data["data_loss"] == "unknown"
    gate = rg("analyze", str(BUNDLE), "--fail-on", "HIGH")
    err = _one_line_error(gate, 1)
    assert "reached --fail-on HIGH" in err
    assert rg("analyze", str(BUNDLE), "--fail-on", "CRITICAL").returncode == 0


def test_bad_inputs_exit_4(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "tool": ')
    assert "not valid JSON" in _one_line_error(rg("analyze", str(bad)), 4)
    assert "no such file" in _one_line_error(rg("render", str(tmp_path / "x.json"), "--out",
                                                str(tmp_path)), 4)
    tl = tmp_path / "t.csv"
    tl.write_text("time,event\n2026-02-01 14:30,no zone\n")
    err = _one_line_error(rg("render", str(BUNDLE), "--timeline", str(tl), "--out",
                             str(tmp_path)), 4)
    assert "line 2" in err and "no UTC offset" in err
    assert "unknown time zone" in _one_line_error(
        rg("render", str(BUNDLE), "--tz", "Mars/Olympus", "--out", str(tmp_path)), 4)


def test_usage_errors_exit_2(tmp_path):
    res = rg("render", str(BUNDLE), "--format", "docx", "--out", str(tmp_path))
    assert res.returncode == 2 and "docx" in res.stderr and "Traceback" not in res.stderr


def test_connection_failure_exit_3_without_password():
    from reportgen.pgserver import free_port

    res = rg("collect", "--dsn", f"postgresql://app:S3cretPw!@127.0.0.1:{free_port()}/db",
             "-o", "never.json")
    err = _one_line_error(res, 3)
    assert "S3cretPw" not in err and "cannot connect" in err
    assert not Path("never.json").exists()


def test_render_from_saved_bundle_is_byte_identical(tmp_path):
    outputs = []
    for _ in range(2):
        res = rg("render", str(BUNDLE), "--timeline", str(TIMELINE), "--tz", "UTC+6",
                 "--format", "md", "--out", str(tmp_path))
        assert res.returncode == 0, res.stderr
        outputs.append((tmp_path / "report.md").read_bytes())
    assert outputs[0] == outputs[1]


def test_render_redraws_from_assessment_json_without_analyzing(tmp_path):
    """assessment.json and its bundle redraw the documents: the same Markdown as rendering
    the bundle (the timeline is in the assessment), apart from the command in Appendix A.
    The analyzer is never imported; an assessment of another bundle is refused (exit 4)."""
    (tmp_path / "evidence.json").write_bytes(BUNDLE.read_bytes())
    res = rg("analyze", "evidence.json", "--timeline", str(TIMELINE), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (tmp_path / "assessment.json").write_text(res.stdout)
    rg("render", "evidence.json", "--timeline", str(TIMELINE), "--tz", "UTC+6",
       "--format", "md", "--out", "a", cwd=tmp_path)
    code = ("import sys, reportgen.cli as c; sys.argv = ['reportgen', *sys.argv[1:]]\n"
            "try:\n    c.main()\nfinally:\n"
            "    print('analyzer imported' if 'reportgen.analyze.rules' in sys.modules "
            "else 'analyzer not imported', file=sys.stderr)")
    redraw = subprocess.run([sys.executable, "-c", code, "render", "assessment.json", "--tz",
                             "UTC+6", "--format", "md", "--out", "b"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert redraw.returncode == 0, redraw.stderr
    assert "analyzer not imported" in redraw.stderr

    def body(p: Path) -> str:  # Appendix A's command block left out (one command each)
        return re.sub(r"(## Appendix A: Commands used\n\n)```\n.*?\n```\n", r"\1",
                      p.read_text(), count=1, flags=re.S)

    assert body(tmp_path / "a" / "report.md") == body(tmp_path / "b" / "report.md")
    other = tmp_path / "other.json"
    other.write_bytes((FIXTURES / "demo-evidence-older.json").read_bytes())
    err = _one_line_error(rg("render", "assessment.json", "--bundle", str(other), "--out", "c",
                             cwd=tmp_path), 4)
    assert "give the bundle it was made from" in err
    res = rg("render", "assessment.json", "--timeline", str(TIMELINE), "--out", "c",
             cwd=tmp_path)
    assert res.returncode == 2 and "already weighed" in res.stderr


def test_assess_and_collect_against_a_live_database(db, tmp_path):
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    out = tmp_path / "out"
    res = rg("assess", "--dsn", db.dsn, "--out", str(out), "--format", "md,pdf")
    assert res.returncode == 0, res.stderr
    for name in ("evidence.json", "assessment.json", "report.md", "report.pdf"):
        assert (out / name).stat().st_size > 0, name
    assert db.server.password not in (out / "evidence.json").read_text()
    assert db.server.password not in (out / "report.md").read_text()
    assert db.server.password not in res.stderr + res.stdout
    res = rg("collect", "-o", str(tmp_path / "e.json"), env={"DATABASE_URL": db.dsn})
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "e.json").read_text())["target"]["source"] == "DATABASE_URL"


@pytest.mark.slow
def test_demo_writes_the_four_outputs(tmp_path):
    out = tmp_path / "demo"
    res = rg("demo", "--out", str(out))
    assert res.returncode == 0, res.stderr
    for name in ("evidence.json", "assessment.json", "report.md", "report.pdf"):
        assert (out / name).stat().st_size > 0, name
    a = json.loads((out / "assessment.json").read_text())
    assert a["data_loss"] == "unknown"
    assert "migration.records_missing" in {f["id"] for f in a["findings"]}
    assert "MIGRATION RECORDS MISSING" in res.stdout


def test_shell_completion_as_the_readme_documents():
    script = rg(env={"_REPORTGEN_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "_reportgen_completion" in script.stdout
    res = rg(env={"_REPORTGEN_COMPLETE": "bash_complete", "COMP_WORDS": "reportgen assess --fail",
                  "COMP_CWORD": "2"})
    assert res.stdout.split() == ["plain,--fail-on"]


def test_progress_lines_and_quiet(tmp_path):
    """Off a terminal: plain lines, each output said as it is written, a final line with the
    stage times; --quiet: nothing on stderr."""
    res = rg("render", str(BUNDLE), "--format", "md,html", "--out", str(tmp_path / "a"))
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert "\r" not in res.stderr
    assert lines.index("rendering Markdown ...") < lines.index(
        f"wrote {tmp_path / 'a' / 'report.md'}") < lines.index("rendering HTML ...")
    assert lines[-1].startswith("done in ") and "markdown " in lines[-1] \
        and lines[-1].endswith(f"outputs in {tmp_path / 'a'}")
    quiet = rg("render", str(BUNDLE), "--format", "md", "--out", str(tmp_path / "b"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert (tmp_path / "b" / "report.md").exists() and (tmp_path / "b" / "inventory.csv").exists()


def test_progress_redraws_one_line_on_a_terminal():
    import io

    from reportgen.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    p = Progress(stream=term)
    with p.stage("pdf", "rendering the PDF"):
        p.count("counting rows", 1, 2, "public.t")
    p.info("wrote report.pdf")
    out = term.getvalue()
    assert "\rrendering the PDF ..." in out and "\rcounting rows 1/2 public.t" in out
    assert out.endswith("\rwrote report.pdf\n") and out.count("\n") == 1  # drawn, then cleared
    assert p.stages[0][0] == "pdf"
