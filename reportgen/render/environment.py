"""The one Jinja environment: user templates first, built-ins second, StrictUndefined, and the
filters that keep hostile identifiers from being interpreted as Markdown or HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from reportgen.constants import CODE_WIDTH
from reportgen.errors import InputError
from reportgen.quoting import fence, hidden, wrap_command


def builtin_templates() -> Path:
    """templates/ inside the installed wheel, or the repository's top-level templates/."""
    packaged = Path(str(resources.files("reportgen"))) / "templates"
    if packaged.is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2] / "templates"
    if repo.is_dir():
        return repo
    raise InputError("reportgen's templates are missing from the installation; reinstall")


class Md(str):
    """Markdown whose every untrusted part went through one of the filters below (``md``,
    ``mdtext``, ``code``, ``plain``, ``cell``), or reportgen's own fixed text. The Markdown
    templates print a value as it is only when it is an ``Md``; anything else (a name, a
    row's value, a number) is escaped on the way out by ``escape_output``: the one rendering
    path for an untrusted value, whatever template or view forgot a filter."""

    __slots__ = ()


def escape_output(value: Any) -> str:
    """Jinja's ``finalize`` for the Markdown templates: every ``{{ ... }}`` that is not
    already ``Md`` is shown literally (``md``)."""
    return value if isinstance(value, Md) else md(value)


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~#&!])")


def visible(text: str) -> Md:
    """Show invisible format characters (bidi overrides, zero-width marks: Unicode category Cf),
    control characters and the Unicode line/paragraph separators (U+2028, U+2029, which
    Python and some viewers treat as line breaks) as [U+XXXX]: an identifier must never
    reorder, hide or break the text around it."""
    return Md("".join(f"[U+{ord(c):04X}]" if hidden(c) else c for c in text))


_UNDERSCORE_EDGE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md(value: Any) -> Md:
    """Escape free text so Markdown shows it literally (one line)."""
    text: str = visible(" ".join(str(value).splitlines()))
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return Md(_UNDERSCORE_EDGE.sub(r"\\_", text))


_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def mdtext(value: Any) -> Md:
    """Escape reportgen's own prose, keeping its `code spans` (identifiers inside them are
    shown literally by Markdown anyway)."""
    parts = _CODE_SPAN.split(visible(" ".join(str(value).splitlines())))
    return Md("".join(p if i % 2 else md(p) for i, p in enumerate(parts)))


def code(value: Any) -> Md:
    """An identifier as an inline code span, whatever backticks or newlines it holds."""
    text = visible(str(value).replace("\r\n", "\n").replace("\n", "\\n"))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text == "" else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def plain(value: Any, width: int = 0) -> Md:
    """Text for a fixed-width listing inside a ~~~~ fence: one line, visible controls, padded."""
    text = visible(str(value).replace("\r\n", "\n").replace("\n", "\\n")).replace("~~~", "~ ~")
    return Md(text.ljust(width) if width else text)


def codeblock(value: Any, info: str = "", indent: int = 0) -> Md:
    """A fenced code block showing ``value`` as it is (invisible characters as [U+XXXX]):
    its fence is longer than any backtick run inside, so no line of it can close the block;
    every line indented by ``indent`` spaces (a block inside a list item)."""
    body = visible(str(value))
    f = fence(body)
    pad = " " * indent
    return Md("\n".join(pad + line for line in [f + info, *body.split("\n"), f]))


def cell(value: Any) -> Md:
    """Markdown safe inside a table cell (a value not yet rendered is escaped first)."""
    if not isinstance(value, Md):
        return md(value)  # one line, and md escapes "|" itself
    return Md(" ".join(value.splitlines()).replace("|", "\\|"))


def human_bytes(n: int | None) -> str:
    """A size, its number and unit joined by a no-break space (a table cell never splits
    "480.0" from "kB")."""
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f}\u00a0{unit}" if unit == "B" else f"{size:.1f}\u00a0{unit}"
        size /= 1024
    return f"{n}\u00a0B"


def number(n: int | None, unknown: str = "unknown") -> str:
    return unknown if n is None else f"{n:,}"


def make_environment(template_dir: str | Path | None, tz: tzinfo,
                     markdown: bool = False) -> jinja2.Environment:
    """``markdown``: the environment of the report's Markdown templates, where every printed
    value not already ``Md`` is escaped (``escape_output``)."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        p = Path(template_dir)
        if not p.is_dir():
            raise InputError(f"--template-dir {p}: not a directory")
        loaders.append(jinja2.FileSystemLoader(str(p)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        finalize=escape_output if markdown else None)

    def local(t: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        if t is None:
            return "unknown"
        lt = t.astimezone(tz)
        name = lt.tzname() or ""
        return f"{lt.strftime(fmt)} {name}".strip()

    def utc(t: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "unknown" if t is None else t.astimezone(UTC).strftime(fmt) + " UTC"

    env.filters.update(md=md, mdtext=mdtext, code=code, plain=plain, cell=cell,
                       fence=lambda text, char="`": Md(fence(text, char)), visible=visible,
                       codeblock=codeblock,
                       shellwrap=lambda cmd: "\n".join(wrap_command(cmd, CODE_WIDTH)),
                       bytes=human_bytes, num=number, local=local, utc=utc)
    env.globals["tz_name"] = datetime(2026, 1, 1, tzinfo=UTC).astimezone(tz).tzname()
    return env
