"""PDF: the HTML through WeasyPrint, with fonts shipped in templates/fonts (no system font or
emoji font is needed), metadata from the bundle, never from the clock."""

from __future__ import annotations

import logging
from pathlib import Path

from reportgen.errors import OutputError
from reportgen.render.environment import builtin_templates


def render_pdf(html_text: str, target: Path, template_dir: str | Path | None = None) -> None:
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    base = Path(template_dir) if template_dir else builtin_templates()
    try:
        HTML(string=html_text, base_url=str(base) + "/").write_pdf(
            target, font_config=FontConfiguration(), pdf_identifier=b"reportgen",
            uncompressed_pdf=False)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
