"""PDF: the HTML through WeasyPrint, with fonts shipped in templates/fonts (no system font or
emoji font is needed), metadata from the bundle, never from the clock."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reportgen.errors import OutputError
from reportgen.render.environment import builtin_templates

ATTACHMENT_NAME = "evidence.json"


class FetchRefused(ValueError):
    """A URL the PDF renderer will not fetch (anything but the templates' own files)."""


def local_fetcher(roots: list[Path]) -> Any:
    """WeasyPrint's URL fetcher, limited to files under ``roots`` (the templates and their
    fonts): every other URL (http, https, ftp, data, a file elsewhere) is refused, so a
    name in the evidence can never make rendering reach the network or read a local file.
    Each refused URL is remembered in ``.refused`` (tests read it)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    allowed = [r.resolve() for r in roots]

    class LocalOnly(URLFetcher):  # type: ignore[misc]
        refused: list[str]

        def fetch(self, url: str, headers: Any = None) -> Any:
            path = _local_path(url)
            if path is None or not any(path.is_relative_to(r) for r in allowed) \
                    or not path.is_file():
                self.refused.append(url)
                raise FetchRefused(f"not fetched (only the templates' own files are): {url}")
            return URLFetcherResponse(path.as_uri(), path.read_bytes(),
                                      {"Content-Type": _content_type(path)})

    fetcher = LocalOnly()
    fetcher.refused = []
    return fetcher


def _local_path(url: str) -> Path | None:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path)).resolve()


def _content_type(path: Path) -> str:
    return {".ttf": "font/ttf", ".otf": "font/otf", ".woff": "font/woff",
            ".woff2": "font/woff2", ".css": "text/css", ".svg": "image/svg+xml",
            ".png": "image/png"}.get(path.suffix.lower(), "application/octet-stream")


def render_pdf(html_text: str, target: Path, template_dir: str | Path | None = None,
               bundle_json: bytes | None = None, variant: str | None = None,
               listings: list[tuple[str, bytes]] | None = None) -> None:
    """Write the PDF; the evidence bundle travels inside it as an embedded file, and so do
    the inventory listings (``listings``: file name and bytes)."""
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
        for name, data in listings or []:
            attachments.append(Attachment(
                string=data, name=name, base_url=None,
                description="complete inventory listing (one row per relation)",
                relationship="Data"))
        HTML(string=html_text, base_url=str(base) + "/",
             url_fetcher=local_fetcher([base, builtin_templates()])).write_pdf(
            target, font_config=FontConfiguration(), pdf_identifier=b"reportgen",
            uncompressed_pdf=False, attachments=attachments, pdf_variant=variant)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
