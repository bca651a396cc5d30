"""PDF typography, checked on the text a reader copies out of it (pdftotext): an identifier,
option or command word is never split at a hyphen or inside a word; it may only break after
``_``, ``.`` or ``/``. The running header never breaks a hyphenated word either."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from reportgen.outputs import render_outputs
from reportgen.render.html import breakable
from reportgen.render.view import RenderOptions
from reportgen.timeline_file import load_timeline
from tests.conftest import FIXTURES

PDFTOTEXT = shutil.which("pdftotext")
pytestmark = pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not "
                                "installed: python3 tasks.py test installs it")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("typography")
    b = load_bundle(FIXTURES / "demo-evidence.json")
    a = analyze(b, timeline=load_timeline(FIXTURES / "demo-timeline.csv"))
    render_outputs(b, a, RenderOptions(tz="UTC+6"), out, ["md", "pdf"])
    assert PDFTOTEXT is not None
    text = subprocess.run([PDFTOTEXT, "-nopgbrk", str(out / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    return (out / "report.md").read_text(), text


def test_every_identifier_and_command_word_comes_out_of_the_pdf_whole(report):
    md, text = report
    # The only breaks allowed inside a word: after _ . / (pdftotext ends the line there).
    joined = re.sub(r"(?<=[_./])\n", "", text)
    words = {w for span in re.findall(r"`([^`\n]+)`", md) for w in span.split(" ")
             if len(w) > 2}
    assert len(words) > 100
    assert sorted(w for w in words if w not in joined) == []
    assert "\u200b" not in text  # the break opportunities are never copied


def test_no_line_of_the_pdf_ends_inside_a_hyphenated_word_or_an_option(report):
    _, text = report
    lines = [ln.rstrip() for ln in text.splitlines()]
    # pdftotext joins a word broken at its hyphen and drops the hyphen: ROW-LEVEL → ROWLEVEL
    assert "ROWLEVEL" not in text and "ROW-LEVEL" in text.replace("\u2011", "-")
    assert not [ln for ln in lines if re.search(r"(^|\s)--?$", ln)]


def test_inline_code_breaks_only_after_underscore_dot_or_slash():
    assert breakable("public.accounts_settings") == \
        "public.\u200baccounts_\u200bsettings"
    assert breakable("--baseline before-refake.json") == \
        '<span class="nobr">--baseline</span> <span class="nobr">before-refake.</span>' \
        "\u200bjson"
