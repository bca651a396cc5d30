"""report.html stands alone: copied into an empty directory, it opens in a real headless
browser (Chromium, from Debian's packages; ``python3 tasks.py test`` installs it) with its
sections, its status and the timeline figure, and it fetches nothing."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from PIL import Image

from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from reportgen.outputs import render_outputs
from reportgen.render.view import RenderOptions
from tests.conftest import FIXTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(python3 tasks.py test installs it)")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-extensions", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_report_html_stands_alone_in_a_real_browser(tmp_path):
    b = load_bundle(FIXTURES / "demo-evidence.json")
    a = analyze(b)
    render_outputs(b, a, RenderOptions(title="Alone"), tmp_path, ["html"])
    alone = tmp_path / "alone"
    alone.mkdir()
    page = alone / "report.html"
    shutil.copy(tmp_path / "report.html", page)
    html = page.read_text("utf-8")
    # Nothing to fetch: no stylesheet, font, image or script from anywhere.
    assert not re.search(r"url\(|<link |<script|<img |src=", html)
    dom = _chromium("--dump-dom", page.as_uri()).stdout
    for heading in ("1. Executive summary", "3. Table inventory", "7. Timeline",
                    "10. Recovery options", "Appendix D: All relations"):
        assert f">{heading}</h2>" in dom
    assert a.status in dom and "<svg" in dom and 'class="badge badge-high"' in dom
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri())
    img = Image.open(shot).convert("RGB")
    colours: list[tuple[int, tuple[int, int, int]]] = \
        img.getcolors(maxcolors=1 << 20) or []  # type: ignore[assignment]
    inked = sum(n for n, c in colours if sum(c) < 600)  # not white, not near-white
    assert inked > img.width * img.height * 0.01, "the page rendered (almost) blank"
    # The badges are drawn: red (HIGH) pixels are on the first screen.
    assert any(r > 170 and g < 80 and b_ < 80 for _, (r, g, b_) in colours)
