"""Hostile identifiers, created in a real database, collected and rendered: nothing is
interpreted, tables keep their shape, every mark is drawable."""

from __future__ import annotations

import re
import unicodedata

from psycopg import sql
from pypdf import PdfReader

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from reportgen.outputs import render_outputs
from reportgen.render.html import font_coverage, render_html
from reportgen.render.view import RenderOptions
from tests.helpers import html_text

NAMES = ['quote"d', "back`tick``s", "pi|pe", "st*ar_und_", "<script>alert(1)</script>",
         "&amp;entity&#39;", "[link](http://evil.example)", "new\nline", "שלום_עולם",
         "emoji🙂table", "rl\u202eo_txt.exe", "z" * 63, "é" * 31]


def test_hostile_names_end_to_end(db, tmp_path):
    with __import__("psycopg").connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier("we|ird <sch>")))
        for n in NAMES:
            conn.execute(sql.SQL("CREATE TABLE {} ({} int, {} text)").format(
                sql.Identifier(n), sql.Identifier(n[:20] + "_col"), sql.Identifier("x|y")))
        conn.execute(sql.SQL("CREATE TABLE {}.{} (id int)").format(
            sql.Identifier("we|ird <sch>"), sql.Identifier("t`1")))
    b = collect_bundle(db.source())
    names = {r.name for r in b.inventory.relations}
    assert set(NAMES) <= names and "t`1" in names
    a = analyze(b)
    render_outputs(b, a, RenderOptions(title="Hostile <b>names</b> | test"), tmp_path,
                   ["md", "html", "pdf"])
    md = (tmp_path / "report.md").read_text("utf-8")
    appendix = md.split("## Appendix D: All relations", 1)[1]
    lines = [ln for ln in appendix.splitlines() if ln.startswith("|")]
    widths = {len(re.split(r"(?<!\\)\|", ln)) for ln in lines}
    assert len(widths) == 1, widths  # every row has the header's number of cells
    assert "\u202e" not in md and "[U+202E]" in md  # a bidi override is shown, not obeyed
    html = (tmp_path / "report.html").read_text("utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://evil.example"' not in html and "<b>names</b>" not in html
    assert "&amp;amp;entity&amp;#39;" in html  # shown as typed, never decoded
    # report.html is read in a browser, with the system's fonts: the emoji stays as it is,
    # and only invisible characters are shown as code points.
    assert "emoji\U0001f642table" in html and "\u202e" not in html and "[U+202E]" in html
    # The PDF has only the shipped fonts: what they cannot draw is shown as its code point.
    printed = render_html(md, b, a, RenderOptions())
    shown = {ord(c) for c in html_text(printed) if not c.isspace()}
    assert shown <= font_coverage()  # no placeholder boxes in the PDF
    assert "emoji[U+1F642]table" in printed
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "report.pdf")).pages)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")  # extractor's bidi marks
    for needle in ("<script>alert(1)</script>", "pi|pe", "z" * 63, "שלום", "עולם",
                   "emoji[U+1F642]table", "we|ird <sch>", "[link](http://evil.example)"):
        assert needle in text, needle  # (extractors order right-to-left runs differently)


TRACKER_LABELS = ["![x](http://beacon.example/b.png)", "[link](http://evil.example)",
                  "app\n# heading", "<img src=http://beacon.example/c.png>"]


def test_tracker_values_never_become_markup(db, tmp_path):
    """django_migrations rows are the database's words too: an app label that looks like an
    image, a link, a heading or HTML is shown as typed, wherever the report names it."""
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz)")
    with __import__("psycopg").connect(db.dsn, autocommit=True) as conn:
        for label in TRACKER_LABELS:
            conn.execute("INSERT INTO django_migrations (app, name, applied) VALUES "
                         "(%s, %s, now())", (label, "0001_" + label))
    (tmp_path / "project").mkdir()
    b = collect_bundle(db.source(), project=tmp_path / "project")
    a = analyze(b)
    out = tmp_path / "out"
    render_outputs(b, a, RenderOptions(), out, ["md", "html"])
    md = (out / "report.md").read_text("utf-8")
    html = (out / "report.html").read_text("utf-8")
    assert not re.search(r"^#+ heading", md, re.MULTILINE)
    assert "<img" not in html and 'href="http://' not in html
    assert "<h1>heading" not in html and "<h2>heading" not in html
