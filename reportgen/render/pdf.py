"""PDF: the HTML through WeasyPrint, with fonts shipped in templates/fonts (no system font or
emoji font is needed), metadata from the bundle, never from the clock."""

from __future__ import annotations

import logging
from pathlib import Path

from reportgen.errors import OutputError
from reportgen.render.environment import builtin_templates

ATTACHMENT_NAME = "evidence.json"


def render_pdf(html_text: str, target: Path, template_dir: str | Path | None = None,
               bundle_json: bytes | None = None, variant: str | None = None) -> None:
    """Write the PDF; the evidence bundle travels inside it as an embedded file."""
    from weasyprint import HTML, Attachment
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    base = Path(template_dir) if template_dir else builtin_templates()
    try:
        attachments = []
        if bundle_json is not None:
            attachments.append(Attachment(
                string=bundle_json, name=ATTACHMENT_NAME, base_url=None,
                description="reportgen evidence bundle (verify with: reportgen extract)",
                relationship="Source"))
        HTML(string=html_text, base_url=str(base) + "/").write_pdf(
            target, font_config=FontConfiguration(), pdf_identifier=b"reportgen",
            uncompressed_pdf=False, attachments=attachments, pdf_variant=variant)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
