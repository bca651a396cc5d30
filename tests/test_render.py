"""Renderers on fixture bundles: snapshot of the Markdown, what a reader of the PDF sees."""

from __future__ import annotations

import html
import io
import re

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from reportgen.analyze import analyze
from reportgen.errors import InputError
from reportgen.outputs import render_outputs
from reportgen.render.environment import builtin_templates, cell, code, md
from reportgen.render.html import markdown_to_html_body
from reportgen.render.markdown import render_markdown
from reportgen.render.view import RenderOptions
from reportgen.timeline_file import parse_timeline
from tests.conftest import FIXTURES
from tests.helpers import html_text, variant

SECTIONS = ["1. Executive summary", "2. Database identity", "3. Table inventory",
            "4. Migration records", "5. Discrepancy analysis", "6. Damage assessment",
            "7. Timeline", "8. Root cause analysis", "9. Current risks and findings",
            "10. Recovery options", "11. Action plan", "12. Technical notes", "13. Conclusion",
            "Appendix A: Commands used", "Appendix B: Contacts", "Appendix C: Evidence gaps",
            "Appendix D: All relations"]
OPTS = RenderOptions(title="Incident assessment: DeltaCrown (fixture)", incident="INC-42",
                     tz="UTC+6", contacts=[("DBA on call", "Jane Roe <jane@example.org>")],
                     commands_used=["reportgen assess --dsn '...' --out out"])


@pytest.fixture(scope="module")
def demo_assessment(demo_bundle):
    events = parse_timeline((FIXTURES / "demo-timeline.csv").read_text(), "t.csv")
    return analyze(demo_bundle, timeline=events)


def test_markdown_snapshot(demo_bundle, demo_assessment, snapshot):
    assert render_markdown(demo_bundle, demo_assessment, OPTS) == snapshot


def test_markdown_is_deterministic_and_has_every_section(demo_bundle, demo_assessment):
    events = parse_timeline((FIXTURES / "demo-timeline.csv").read_text(), "t.csv")
    one = render_markdown(demo_bundle, demo_assessment, OPTS)
    two = render_markdown(demo_bundle, analyze(demo_bundle, timeline=events), OPTS)
    assert one == two
    for title in SECTIONS:
        assert f"## {title}" in one, title
    assert "UTC+6" in one and "INC-42" in one


def _with_hostile_names(data):
    names = ["a|b", "<script>alert(1)</script>", "x`y``z", "[click](http://evil.example)",
             "*bold*_it_", "&amp;entity", "line\nbreak", "עברית", "🙂emoji", "n" * 63]

    def change(d):
        template = d["inventory"]["relations"][0]
        for n in names:
            d["inventory"]["relations"].append(dict(template, name=n, schema_name="public"))
    return variant(data, change), names


def test_hostile_identifiers_are_shown_literally(demo_bundle_data):
    b, names = _with_hostile_names(demo_bundle_data)
    a = analyze(b)
    text = render_markdown(b, a, OPTS)
    appendix = text.split("## Appendix D: All relations", 1)[1]
    rows = [ln for ln in appendix.splitlines() if ln.startswith("| `")]
    header = next(ln for ln in appendix.splitlines() if ln.startswith("| Relation"))
    header_cells = len(re.split(r"(?<!\\)\|", header)) - 2
    for row in rows:  # every row keeps the table's shape
        assert len(re.split(r"(?<!\\)\|", row)) - 2 == header_cells, row
    body = markdown_to_html_body(text)
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'href="http://evil.example"' not in body
    assert "&amp;amp;entity" in body  # the entity is shown as typed, not decoded
    for name in names:
        if "\n" not in name and "`" not in name:
            assert html.escape(name, quote=False) in body, name


def test_inventory_listings_keep_hostile_names(demo_bundle_data, tmp_path):
    """inventory.json holds every name exactly; inventory.csv parses back to one row per
    relation, and a name a spreadsheet would run as a formula starts with a quote."""
    import csv
    import json

    from reportgen.outputs import render_outputs

    b, _ = _with_hostile_names(demo_bundle_data)
    rels = b.inventory.relations
    rels[0].name = '=HYPERLINK("http://evil.example","x")'
    render_outputs(b, analyze(b), OPTS, tmp_path, ["md"])
    doc = json.loads((tmp_path / "inventory.json").read_text("utf-8"))
    assert [(r["schema"], r["name"]) for r in doc["relations"]] == [
        (r.schema_name, r.name) for r in rels]
    with open(tmp_path / "inventory.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(rels)
    assert rows[0]["name"] == "'" + rels[0].name
    assert [r["name"] for r in rows[1:]] == [
        ("'" + r.name if r.name[:1] in "=+-@\t\r" else r.name) for r in rels[1:]]
    md_text = (tmp_path / "report.md").read_text("utf-8")
    assert "[inventory.csv](inventory.csv)" in md_text


def test_escaping_filters():
    assert md("a*b_ [x](y) <i> | #") == r"a\*b\_ \[x\](y) \<i\> \| \#"
    assert md("check_tables.py") == "check_tables.py"
    assert code("a`b") == "``a`b``" and code("`x") == "`` `x ``"
    assert cell("a|b\nc") == r"a\|b c"


def test_template_override_and_strict_undefined(demo_bundle, demo_assessment, tmp_path):
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "12_technical_notes.md.j2").write_text("## 12. Our notes\n\nCustom.\n")
    text = render_markdown(demo_bundle, demo_assessment, OPTS, template_dir=tmp_path)
    assert "## 12. Our notes" in text and "## 13. Conclusion" in text
    (tmp_path / "sections" / "12_technical_notes.md.j2").write_text("{{ no_such_variable }}\n")
    with pytest.raises(InputError, match="no_such_variable"):
        render_markdown(demo_bundle, demo_assessment, OPTS, template_dir=tmp_path)


def _font_coverage() -> set[int]:
    cps: set[int] = set()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"):
        font = TTFont(str(builtin_templates() / "fonts" / name))
        cps |= set(font.getBestCmap())
    return cps


def test_pdf_as_a_reader_sees_it(demo_bundle, demo_assessment, tmp_path):
    render_outputs(demo_bundle, demo_assessment, OPTS, tmp_path, ["html", "pdf"])
    reader = PdfReader(io.BytesIO((tmp_path / "report.pdf").read_bytes()))
    assert len(reader.pages) >= 8
    text = "\n".join(p.extract_text() for p in reader.pages)
    for title in SECTIONS:
        assert title in text, title
    assert "Page 2 of" in text  # footer with page numbers
    fonts = {}
    for page in reader.pages:
        for f in page["/Resources"]["/Font"].values():
            f = f.get_object()
            desc = f["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            fonts[f["/BaseFont"]] = "/FontFile2" in desc or "/FontFile3" in desc
    assert fonts and all(fonts.values()), fonts  # every font embedded
    assert all("+Report-" in name for name in fonts), fonts  # only the shipped fonts
    meta = reader.metadata
    assert meta.title == OPTS.title and "ROW-LEVEL LOSS NOT EXCLUDED" in meta.subject
    assert meta.author.startswith("reportgen")
    assert meta.creation_date.year == demo_bundle.collection.finished_at.year
    text = html_text((tmp_path / "report.html").read_text("utf-8"))
    shown = {ord(c) for c in text if not c.isspace()}
    missing = sorted(chr(c) for c in shown - _font_coverage())
    assert missing == []  # no placeholder boxes: every mark is in the shipped fonts


def test_html_declares_utf8(demo_bundle, demo_assessment, tmp_path):
    render_outputs(demo_bundle, demo_assessment, OPTS, tmp_path, ["html"])
    html = (tmp_path / "report.html").read_text("utf-8")
    assert '<meta charset="utf-8">' in html and "≈" in html and "—" in html


def test_checklist_boxes_and_unsplit_sizes(demo_bundle, tmp_path):
    from pypdf import PdfReader

    from reportgen.analyze import analyze
    from reportgen.outputs import render_outputs
    from reportgen.render.view import RenderOptions

    render_outputs(demo_bundle, analyze(demo_bundle), RenderOptions(), tmp_path, ["html", "pdf"])
    html = (tmp_path / "report.html").read_text("utf-8")
    assert '<li class="task">☐ ' in html and "<li>[ ]" not in html
    assert "\u00a0kB" in html and not re.search(r"\d kB", html)
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "report.pdf")).pages)
    assert "☐" in text
