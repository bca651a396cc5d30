"""HTML: the Markdown through markdown-it-py (raw HTML disabled), in the print shell."""

from __future__ import annotations

import html
import re
from functools import cache, lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

from reportgen.analyze.model import Assessment
from reportgen.bundle import EvidenceBundle
from reportgen.render.environment import (
    builtin_templates,
    make_environment,
    visible,
)
from reportgen.render.timeline_figure import layout
from reportgen.render.view import RenderOptions
from reportgen.timezones import parse_tz

_LEVEL = re.compile(r"<strong>(LOW|MEDIUM|HIGH|CRITICAL|RECOMMENDED|SUPPORTED|CONTRADICTED|"
                    r"UNDECIDED|OPEN)</strong>")
_SECTION = re.compile(r"<h2>")
_RELATIVE_LINK = re.compile(r'<a href="(?![A-Za-z][A-Za-z0-9+.-]*:)[^"]*">(.*?)</a>')
TIMELINE_HEADING = '<h2 class="section">7. Timeline</h2>'


@cache
def font_coverage() -> frozenset[int]:
    """Code points the shipped fonts can draw."""
    from fontTools.ttLib import TTFont

    cps: set[int] = set()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"):
        cps |= set(TTFont(str(builtin_templates() / "fonts" / name)).getBestCmap())
    return frozenset(cps)


def drawable(html_text: str) -> str:
    """Characters no shipped font can draw (emoji in an identifier, rare scripts) become
    [U+XXXX], so the PDF shows every name exactly and never a placeholder box."""
    covered = font_coverage()
    return "".join(c if ord(c) in covered or c in "\n\r\t" else f"[U+{ord(c):04X}]"
                   for c in html_text)


@lru_cache(maxsize=2)  # report.html and the PDF's HTML share one conversion
def markdown_to_html_body(text: str) -> str:
    # "html": False — anything that looks like HTML in the evidence is shown, never run.
    mdit = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    mdit.enable("table").enable("strikethrough")
    body = mdit.render(text)
    # Status words become badges drawn with CSS, so no emoji font is ever needed.
    body = _LEVEL.sub(lambda m: f'<strong class="badge badge-{m.group(1).lower()}">'
                      f"{m.group(1)}</strong>", body)
    # Action-plan checklist items ("- [ ] ...") get a drawn box, not bracket characters.
    body = body.replace("<li>[ ] ", '<li class="task">☐ ')
    body = body.replace("<td>✓ safe</td>", '<td class="ok">✓ safe</td>')
    body = body.replace("<td>✗ unsafe</td>", '<td class="bad">✗ unsafe</td>')
    return _SECTION.sub('<h2 class="section">', body)


_TABLE = re.compile(r"<table>(.*?)</table>", re.S)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(r"<t([hd])[^>]*>(.*?)</t[hd]>", re.S)
_TAG = re.compile(r"<[^>]+>")
#: The PDF's text width (A4, print.css margins) and a table cell's room per character at the
#: tables' 8pt (DejaVu, bold headers), with the cell's padding and border.
PAGE_MM, CHAR_MM, CELL_MM = 182.0, 2.0, 3.5
#: Columns whose longest cell is at most this many characters get exactly their room; the
#: others share the rest in proportion to their content (each counted up to COLUMN_MAX).
NARROW, COLUMN_MAX = 18, 60


def _column_widths(m: re.Match[str]) -> str:
    """A report table with its column widths set from its content, for the PDF's fixed table
    layout: WeasyPrint's automatic layout measures every cell's min-content width, letter by
    letter where long identifiers may break anywhere (most of a 10,000-table report's layout
    time). A column of short values (numbers, yes/no, a date) gets the room its longest
    value and its header's longest word need; the columns of longer text share the rest in
    proportion to their longest cells. Widths are percentages, so a table inside a list
    item keeps them."""
    longest: list[int] = []
    unbroken: list[int] = []  # the longest piece no line may break (breakable's pieces)
    for row in _ROW.findall(m.group(1)):
        for i, cell in enumerate(_CELL.finditer(row)):
            text = html.unescape(_TAG.sub("", cell.group(2))).strip()
            badge = 3 if 'class="badge' in cell.group(2) else 0  # a badge's own padding
            # A header may wrap between its words; a value is counted whole.
            n = max(map(len, text.split()), default=0) if cell.group(1) == "h" else len(text)
            piece = max((len(p) for w in text.split() for p in _PIECE.split(w)), default=0)
            if i == len(longest):
                longest.append(0)
                unbroken.append(0)
            longest[i] = max(longest[i], n + badge)
            unbroken[i] = max(unbroken[i], piece + badge)
    if not longest:
        return m.group(0)
    narrow = {i: n * CHAR_MM + CELL_MM for i, n in enumerate(longest) if n <= NARROW}
    wide = {i: min(n, COLUMN_MAX) for i, n in enumerate(longest) if n > NARROW}
    rest = max(PAGE_MM - sum(narrow.values()), 0.0)
    # Each wide column holds at least its longest unbreakable piece; the rest is shared.
    floor = {i: min(unbroken[i], COLUMN_MAX) * CHAR_MM + CELL_MM for i in wide}
    extra = rest - sum(floor.values())
    if not wide or extra < 0:  # nothing to share, or too little: by content
        mm = {i: n * CHAR_MM + CELL_MM for i, n in enumerate(longest)}
    else:
        mm = {**narrow, **{i: floor[i] + extra * w / sum(wide.values())
                           for i, w in wide.items()}}
    total = sum(mm.values())
    cols = "".join(f'<col style="width: {100 * mm[i] / total:.1f}%">'
                   for i in range(len(longest)))
    return f'<table class="fixed"><colgroup>{cols}</colgroup>{m.group(1)}</table>'


#: Inline code (a name, an option, a command), not a code block.
_INLINE_CODE = re.compile(r"(?<!<pre>)<code>(.*?)</code>", re.S)
_PIECE = re.compile(r"(?<=[_./])")
#: Text between tags, and a word joined by hyphens in it (ROW-LEVEL, point-in-time): the PDF
#: breaks a line between words, never at such a word's own hyphen.
_TEXT = re.compile(r"(?<=>)[^<]+")
_HYPHENATED = re.compile(r"(?<![\w-])(\w+(?:-\w+)+)(?![\w-])")


def breakable(code: str) -> str:
    """Inline code as the PDF may break it: between words, and inside a word only after
    ``_``, ``.`` or ``/``, never at a hyphen (``--baseline``, ``ROW-LEVEL``,
    ``before-refake.json`` stay whole: each piece with a hyphen is kept on one line), so a
    name or an option is never split where a reader would take it for two. The break
    opportunity is U+200B: WeasyPrint lets ``overflow-wrap`` break a word anywhere before
    it honours a ``<wbr>``, and draws no glyph for U+200B, so text copied from the PDF (and
    pdftotext) has none."""
    out = []
    for word in code.split(" "):
        pieces = [f'<span class="nobr">{p}</span>' if "-" in p else p
                  for p in _PIECE.split(word) if p]
        out.append("\u200b".join(pieces))
    return " ".join(out)


def render_html(markdown_text: str, bundle: EvidenceBundle, assessment: Assessment,
                opts: RenderOptions, template_dir: str | Path | None = None,
                standalone: bool = False) -> str:
    """The HTML the PDF is printed from (print.css, the shipped fonts beside the templates),
    or, ``standalone``, report.html: one file that opens in a browser with nothing beside it
    (screen.css, system fonts, the figure inline)."""
    tz = parse_tz(opts.tz)
    env = make_environment(template_dir, tz)
    css = env.get_template("screen.css" if standalone else "print.css").render()
    body = markdown_to_html_body(markdown_text)
    if not standalone:  # in the PDF the listings are attachments, not files a link reaches
        body = _RELATIVE_LINK.sub(r"\1", body)
        body = _TABLE.sub(_column_widths, body)
        body = _INLINE_CODE.sub(lambda m: "<code>" + breakable(m.group(1)) + "</code>", body)
        body = _TEXT.sub(lambda m: _HYPHENATED.sub(r'<span class="nobr">\1</span>', m[0]),
                         body)
    fig = layout(assessment.timeline, tz)
    if fig is not None:
        drawn = env.get_template("timeline.svg.j2" if standalone
                                 else "timeline.print.html.j2").render(fig=fig)
        body = body.replace(TIMELINE_HEADING, TIMELINE_HEADING + "\n" + drawn, 1)
    page = env.get_template("report.html.j2").render(
        body=body, css=css, b=bundle, a=assessment, opts=opts,
        title=opts.title, escape=html.escape,
        keywords=", ".join(["incident", "postgresql", "reportgen",
                            *(f"{d}:{lvl}" for d, lvl in assessment.risks.items())]),
        created=bundle.collection.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    # The PDF has only the shipped fonts: what they cannot draw is shown as [U+XXXX]. A
    # browser has the system's fonts, so report.html keeps every character but invisible
    # ones (a bidi override would reorder what the reader sees).
    return visible(page) if standalone else drawable(page)
