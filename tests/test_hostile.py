"""Hostile identifiers, created in a real database, collected and rendered: nothing is
interpreted, tables keep their shape, every mark is drawable."""

from __future__ import annotations

import copy
import re
import unicodedata
from html.parser import HTMLParser
from typing import Any

from markdown_it import MarkdownIt
from psycopg import sql
from pydantic import ValidationError
from pypdf import PdfReader

from reportgen.analyze import analyze
from reportgen.bundle import EvidenceBundle
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


#: Appended to every string of a bundle: an image and a link that would fetch or point at a
#: beacon, raw HTML, a line that would start a heading, table and emphasis marks, a
#: carriage return, a terminal escape and a bidi override.
PAYLOAD = ("<img src=//beacon/h>![i](//beacon/i)[l](//beacon/l)<http://beacon/a>"
           "\n# Forged heading\r\x1b[31m\u202e|*_`")


def _poison(data: Any, cls: type[EvidenceBundle]) -> EvidenceBundle:
    """``data`` (a bundle's JSON) with PAYLOAD appended to every string the bundle's model
    accepts that way (an enum or a timestamp that would no longer validate keeps its value;
    the same suffix everywhere keeps names that match, matching)."""
    def walk(node: Any, path: tuple[Any, ...], out: dict[tuple[Any, ...], str]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k), out) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i), out) for i, v in enumerate(node)]
        if isinstance(node, str):
            out[path] = node
            return node + PAYLOAD
        return node

    originals: dict[tuple[Any, ...], str] = {}
    poisoned = walk(data, (), originals)
    for _ in range(20):
        try:
            return cls.model_validate(poisoned)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                while loc and loc not in originals:
                    loc = loc[:-1]
                target = poisoned
                for k in loc[:-1]:
                    target = target[k]
                target[loc[-1]] = originals[loc]
    raise AssertionError("the poisoned bundle never validated")


class _Tags(HTMLParser):
    """Every start tag of a document, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def test_no_bundle_value_becomes_markup_in_any_output(demo_bundle_data, tmp_path):
    """Every string of a real bundle (names, tracker rows, codebase, log, identity...) ends
    with Markdown, HTML and control characters; the Markdown, the HTML and the PDF (its text,
    outline and link annotations) show them and never obey them."""
    data = copy.deepcopy(demo_bundle_data)
    # Fewer relations, records and migration files (the PDF of 86 tables of long hostile
    # names takes most of a minute; every kind of field is still there), and a server log.
    data["inventory"]["relations"] = data["inventory"]["relations"][:4]
    data["migrations"]["django"]["records"] = data["migrations"]["django"]["records"][:8]
    data["codebase"]["migrations"] = data["codebase"]["migrations"][:8]
    first = data["inventory"]["relations"][0]
    data["server_log"] = {
        "files": ["postgresql.log (stderr)"], "lines_read": 3, "unparsed": 0,
        "write_databases": ["app"], "notes": ["a note"],
        "role_visibility": [{"role": "r", "schema_name": "public", "visible": 1,
                             "pg_class": 2}],
        "events": [{"time": data["collection"]["started_at"], "kind": "DROP TABLE",
                    "statement": f"DROP TABLE {first['name']}",
                    "tables": [{"schema_name": first["schema_name"], "name": first["name"]}],
                    "schemas": ["public"], "user": "u", "database": "app",
                    "application": "psql", "session": "42", "source": "postgresql.log:3"}]}
    b = _poison(data, EvidenceBundle)
    assert b.identity is not None and b.identity.current_database.endswith(PAYLOAD)
    a = analyze(b)
    render_outputs(b, a, RenderOptions(), tmp_path, ["md", "html", "pdf"])
    text = (tmp_path / "report.md").read_text("utf-8")
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    tokens = MarkdownIt("commonmark").parse(text)
    flat = [t for tok in tokens for t in [tok, *(tok.children or [])]]
    assert not [t for t in flat if t.type in ("html_block", "html_inline", "image")]
    assert not [t for t in flat if t.type == "link_open"
                and "beacon" in str(t.attrs.get("href", ""))]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if h.startswith("Forged")], headings
    html = (tmp_path / "report.html").read_text("utf-8")
    tags = _Tags()
    tags.feed(html)
    assert not [t for t in tags.seen if "beacon" in str(t)], tags.seen
    assert not [t for t in tags.seen if t[0] in ("img", "script", "iframe", "object")]
    assert "Forged heading</h" not in html
    pdf = PdfReader(str(tmp_path / "report.pdf"))
    uris = [str(annot.get_object().get("/A", {}).get("/URI", ""))
            for page in pdf.pages for annot in page.get("/Annots") or []]
    assert not [u for u in uris if u], uris  # no link leaves the document

    def titles(outline: list[Any]) -> list[str]:
        return [t for o in outline for t in (titles(o) if isinstance(o, list) else [o.title])]

    assert not [t for t in titles(pdf.outline) if "Forged" in t.split("#")[0][:8]]
    assert len(titles(pdf.outline)) == len(headings)  # one entry per heading, none forged
