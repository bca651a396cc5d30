"""Markdown: the Jinja templates over the bundle, the assessment and the render options."""

from __future__ import annotations

from pathlib import Path

import jinja2

from reportgen.analyze.model import Assessment
from reportgen.bundle import EvidenceBundle
from reportgen.errors import InputError
from reportgen.render.environment import make_environment
from reportgen.render.view import RenderOptions, View
from reportgen.timezones import parse_tz


def render_markdown(bundle: EvidenceBundle, assessment: Assessment, opts: RenderOptions,
                    template_dir: str | Path | None = None, view: View | None = None) -> str:
    """``view``: the View of this bundle and assessment when the caller has built it."""
    env = make_environment(template_dir, parse_tz(opts.tz), markdown=True)
    try:
        text = env.get_template("report.md.j2").render(
            b=bundle, a=assessment, opts=opts, view=view or View(bundle, assessment))
    except jinja2.TemplateError as exc:
        where = f" ({exc.filename}:{exc.lineno})" if isinstance(
            exc, jinja2.TemplateSyntaxError) else ""
        raise InputError(f"template error{where}: {exc.message}") from None
    # Collapse runs of blank lines left by conditional blocks.
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() == "" and lines and lines[-1] == "":
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"
