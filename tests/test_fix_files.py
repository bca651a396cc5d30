"""Every recommended fix is a file (fix/ beside the report): named with its sha-256 in the
report, attached to the PDF, in the archive's manifest, and printed in the PDF so that text
copied out of it is the file, line for line (pdftotext, as a responder's copy would be)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from reportgen.constants import CODE_WIDTH as WIDTH
from reportgen.outputs import render_outputs
from reportgen.render.view import RenderOptions
from tests.conftest import FIXTURES

PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("report")
    b = load_bundle(FIXTURES / "demo-evidence.json")
    a = analyze(b)
    render_outputs(b, a, RenderOptions(), out, ["md", "pdf"])
    return out, a


def test_each_option_s_commands_and_scripts_are_files_named_with_their_sha256(rendered):
    out, a = rendered
    report = (out / "report.md").read_text()
    files = [f for o in a.recovery_options for f in o.files]
    assert {f.name for f in files} >= {"fix/option-1.py", "fix/option-1.sql"}
    for f in files:
        data = (out / f.name).read_bytes()
        assert data.decode() == f.content
        assert hashlib.sha256(data).hexdigest() == f.sha256 and f.sha256 in report
        assert f"run `{f.run}`" in report
        head = f.content.split("\n", 12)
        assert any(line.startswith(("# reportgen fix", "-- reportgen fix")) for line in head)
        for what in ("Verified against: evidence bundle", "Undo:"):
            assert what in f.content, (f.name, what)
        if f.name.endswith(".sh"):
            assert f.content.startswith("#!/usr/bin/env bash\n")
            assert "\nset -euo pipefail\n" in f.content
            assert (out / f.name).stat().st_mode & 0o111
            assert subprocess.run(["bash", "-n", str(out / f.name)]).returncode == 0
        if f.name.endswith(".sql"):
            assert "\nBEGIN;\n" in f.content and "\nCOMMIT;\n" in f.content
        if f.name.endswith(".py"):
            compile(f.content, f.name, "exec")
    attached = PdfReader(str(out / "report.pdf")).attachments
    assert {f.name: [f.content.encode()] for f in files}.items() <= \
        {k: v for k, v in attached.items()}.items()


def test_a_shell_file_refuses_to_run_with_a_placeholder_unset(rendered, tmp_path):
    out, a = rendered
    sh = next(f for o in a.recovery_options for f in o.files if "${PROJECT_ID}" in f.content)
    res = subprocess.run(["bash", str(out / sh.name)], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert res.returncode != 0 and "PROJECT_ID" in res.stderr and "set PROJECT_ID" in res.stderr


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed: "
                    "python3 tasks.py test installs it")
@pytest.mark.parametrize("report", [None, "sample"])
def test_text_copied_from_the_pdf_is_each_fix_file_line_for_line(rendered, report):
    """pdftotext, as a responder's copy from the PDF: every line of every file shown comes
    out byte-identical and in order (only the page's running header and footer may fall
    between two of them); no line is longer than the code block holds."""
    root = Path(__file__).resolve().parent.parent
    out = root / "sample_reports" if report else rendered[0]
    files = sorted((out / "fix").iterdir())
    assert files
    assert PDFTOTEXT is not None
    text = subprocess.run([PDFTOTEXT, str(out / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    md = (out / "report.md").read_text()
    # The running header and footer: on every page but the first.
    pages = len(PdfReader(str(out / "report.pdf")).pages)
    furniture = {t for t in set(text) if text.count(t) >= pages - 1} | \
        {t for t in text if re.fullmatch(r"Page \d+ of \d+", t)}
    for path in files:
        lines = path.read_text().splitlines()
        if f"`fix/{path.name}` has a line longer" in md:
            assert any(len(x) > WIDTH for x in lines)
            continue
        assert all(len(x) <= WIDTH and "  " not in x and x == x.strip() for x in lines), path
        starts = [i for i, t in enumerate(text) if t == lines[0]]
        assert any(_follows(text, i, lines, furniture) for i in starts), path.name


def _follows(text: list[str], i: int, lines: list[str], furniture: set[str]) -> bool:
    """The file's lines from text[i] on, one after another, with nothing between two of them
    but blank lines and a page break's running header and footer."""
    for line in lines:
        while i < len(text) and text[i] != line and (not text[i].strip()
                                                      or text[i] in furniture):
            i += 1
        if i >= len(text) or text[i] != line:
            return False
        i += 1
    return True


def test_a_hostile_name_in_the_header_stays_inside_its_comment(demo_bundle_data):
    """The header names the database and host, which the database's owner chooses: a newline
    in one would end the comment and start code. Every header line stays a comment."""
    from tests.helpers import variant

    evil = "deltacrown\nimport os; os.system('touch /tmp/owned') #\r\u2028\u202e"
    b = variant(demo_bundle_data, lambda d: d["identity"].update(current_database=evil))
    a = analyze(b)
    files = [f for o in a.recovery_options for f in o.files]
    assert files
    for f in files:
        mark = "--" if f.name.endswith(".sql") else "#"
        head = f.content.split("\n")[: f.content.split("\n").index(
            next(x for x in f.content.split("\n") if x.startswith(f"{mark} Run:"))) + 1]
        assert all(x.startswith(mark) for x in head), (f.name, head)
        assert "deltacrown\\x0aimport os" in f.content and "\\u202e" in f.content
        assert "\r" not in f.content and "\u2028" not in f.content


def test_a_fix_an_earlier_report_left_in_the_folder_is_removed(tmp_path):
    """Run by mistake, another report's fix would apply that report's change: the files this
    report does not recommend go; a file of the responder's own stays."""
    (tmp_path / "fix").mkdir()
    (tmp_path / "fix" / "option-7.sh").write_text("echo stale\n")
    (tmp_path / "fix" / "notes.txt").write_text("mine\n")
    b = load_bundle(FIXTURES / "demo-evidence.json")
    a = analyze(b)
    render_outputs(b, a, RenderOptions(), tmp_path, ["md"])
    names = {p.name for p in (tmp_path / "fix").iterdir()}
    assert "option-7.sh" not in names and "notes.txt" in names
    assert {f"fix/{n}" for n in names - {"notes.txt"}} == \
        {f.name for o in a.recovery_options for f in o.files}


@pytest.mark.parametrize(("change", "why"), [
    (lambda f: f.update(name="fix/../../escaped.sh"), "name"),
    (lambda f: f.update(content=f["content"] + "rm -rf ~\n"), "sha256 does not match"),
])
def test_an_edited_assessment_cannot_write_elsewhere_or_lie_about_a_digest(tmp_path, change,
                                                                           why):
    """`reportgen render assessment.json` writes the fix files the assessment lists: one
    naming a path outside fix/, or whose content no longer has the digest the report would
    print, is refused (exit 4) and nothing is written."""
    import json
    import subprocess
    import sys

    b = load_bundle(FIXTURES / "demo-evidence.json")
    data = json.loads(analyze(b).model_dump_json())
    change(data["recovery_options"][0]["files"][0])
    (tmp_path / "assessment.json").write_text(json.dumps(data))
    (tmp_path / "evidence.json").write_bytes((FIXTURES / "demo-evidence.json").read_bytes())
    res = subprocess.run([sys.executable, "-m", "reportgen", "render",
                          str(tmp_path / "assessment.json"), "--format", "md", "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 4 and why in res.stderr, res.stderr
    assert not (tmp_path / "escaped.sh").exists() and not (tmp_path / "out" / "fix").exists()


def test_a_wrapped_command_gives_the_shell_the_same_words():
    """wrap_command breaks a long command only between words, with continuations the shell
    joins back: bash receives exactly the words of the one-line command, whatever quoting,
    spaces, quotes or invisible characters the words hold."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from reportgen.quoting import shell_command, shell_words, wrap_command

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.text(min_size=1, max_size=25).filter(lambda w: "\x00" not in w),
                    min_size=1, max_size=12), st.integers(12, 60))
    def check(words: list[str], width: int) -> None:
        command = shell_command(*words)
        lines = wrap_command(command, width)
        assert all(len(x) <= width or len(shell_words(x.removesuffix(" \\"))) == 1
                   for x in lines)  # only a single word longer than the width goes over
        got = subprocess.run(["bash", "-c", "printf '%s\\0' " + "\n".join(lines)],
                             capture_output=True, check=True).stdout
        assert got.split(b"\0")[:-1] == [w.encode() for w in words]

    check()


def test_a_file_whose_text_a_pdf_copy_would_change_is_named_not_printed():
    """Indentation, a trailing or doubled space: text copied from the PDF loses them, so such
    a file is named by the report, never printed as if a copy gave it back."""
    from reportgen.analyze.fixfiles import _file

    assert _file("fix/option-1.sql", "r", "any folder", "SELECT 1;\n").shown
    for line in ("  SELECT 1;", "SELECT 1; ", "SELECT  1;", "x" * (WIDTH + 1)):
        assert not _file("fix/option-1.sql", "r", "any folder", line + "\n").shown, line
