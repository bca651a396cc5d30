"""PDF: the HTML through WeasyPrint, with fonts shipped in templates/fonts (no system font or
emoji font is needed), metadata from the bundle, never from the clock."""

from __future__ import annotations

import logging
import threading
import zlib
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
               listings: list[tuple[str, bytes]] | None = None,
               fixes: list[tuple[str, bytes]] | None = None,
               transcripts: list[tuple[str, bytes]] | None = None) -> None:
    """Write the PDF; the evidence bundle travels inside it as an embedded file, and so do
    the inventory listings (``listings``: file name and bytes), the recommended fixes
    (``fixes``: their names under fix/ and bytes) and the rehearsal transcripts
    (``transcripts``)."""
    from weasyprint import HTML, Attachment
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    base = Path(template_dir) if template_dir else builtin_templates()
    files = ([(ATTACHMENT_NAME, bundle_json, "Source",
               "reportgen evidence bundle (verify with: reportgen extract)")]
             if bundle_json is not None else []) + [
        (name, data, "Data", "complete tenant matrix (one row per tenant schema)"
         if name.startswith("tenants.") else
         "complete inventory listing (one row per relation)")
        for name, data in listings or []] + [
        (name, data, "Supplement", "recommended fix, as the report says to run it")
        for name, data in fixes or []] + [
        (name, data, "Supplement", "rehearsal transcript: the fix run on a scratch copy "
         "(reportgen rehearse)") for name, data in transcripts or []]
    packed = _Packed([data for _, data, _, _ in files])  # compressed while WeasyPrint lays out
    try:
        attachments = [Attachment(string=data, name=name, base_url=None, description=about,
                                  relationship=relationship)
                       for name, data, relationship, about in files]
        HTML(string=html_text, base_url=str(base) + "/",
             url_fetcher=local_fetcher([base, builtin_templates()])).write_pdf(
            target, font_config=FontConfiguration(), pdf_identifier=b"reportgen",
            uncompressed_pdf=False, attachments=attachments, pdf_variant=variant,
            finisher=packed.finish)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        packed.wait()


class _Packed:
    """The attachments' Flate streams, compressed in a thread while WeasyPrint lays the pages
    out (zlib lets go of the GIL: the two run on two cores), then put in place of the
    streams WeasyPrint would compress itself, one after the other, once the layout is done
    (pydyf's level 9 takes ~0.6 s on a 10,000-table bundle; level 6 is ~10% larger, in a
    third of the time). The embedded files' Size and CheckSum stay WeasyPrint's, computed on
    the bytes themselves, as the PDF standard wants."""

    def __init__(self, files: list[bytes]) -> None:
        self._files = files
        self._packed: list[bytes] = []
        self._thread = threading.Thread(target=self._work, name="reportgen-pdf-attachments",
                                        daemon=True)
        if files:
            self._thread.start()

    def _work(self) -> None:
        self._packed = [zlib.compress(data, 6) for data in self._files]

    def wait(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def finish(self, document: Any, pdf: Any) -> None:
        """WeasyPrint's finisher: called with the PDF's objects before they are written."""
        import pydyf

        self.wait()
        for obj in pdf.objects:
            if not isinstance(obj, pydyf.Stream) or obj.extra.get("Type") != "/EmbeddedFile" \
                    or len(obj.stream) != 1:
                continue
            at = next((i for i, data in enumerate(self._files) if obj.stream[0] == data),
                      None)
            if at is not None:
                obj.stream = [self._packed[at]]
                obj.compress = False
                obj.extra["Filter"] = "/FlateDecode"
