"""``reportgen extract report.pdf``: the evidence bundle embedded in a report PDF, verified."""

from __future__ import annotations

from pathlib import Path

from reportgen.bundle import EvidenceBundle, parse_bundle
from reportgen.errors import DigestMismatch, InputError, VerificationFailed
from reportgen.render.pdf import ATTACHMENT_NAME


def embedded_bundle_bytes(pdf: Path) -> bytes:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(str(pdf))
        # Decompressed here, within pypdf's limits (its LimitReachedError: a compression
        # bomb stops at tens of megabytes instead of filling the memory).
        data = reader.attachments.get(ATTACHMENT_NAME)
    except FileNotFoundError:
        raise InputError(f"{pdf}: no such file") from None
    except LimitReachedError:
        raise InputError(f"{pdf}: an embedded file expands beyond what pypdf reads (a "
                         "compression bomb?): not a report reportgen wrote") from None
    except (PyPdfError, OSError, ValueError) as exc:
        raise InputError(f"{pdf}: not a readable PDF ({exc})") from None
    except RecursionError:
        raise InputError(f"{pdf}: not a readable PDF (nested too deeply)") from None
    if not data:
        raise InputError(f"{pdf}: no embedded {ATTACHMENT_NAME}; was it written by reportgen?")
    if len(data[0]) > MAX_EMBEDDED:
        raise InputError(f"{pdf}: embedded {ATTACHMENT_NAME} is {len(data[0]):,} bytes, more "
                         "than any evidence bundle (2 GiB at most)")
    return bytes(data[0])


#: An evidence bundle of 50,000 relations is ~60 MB; nothing reportgen wrote is near this.
MAX_EMBEDDED = 2 << 30


def extract_bundle(pdf: Path) -> tuple[bytes, EvidenceBundle]:
    raw = embedded_bundle_bytes(pdf)
    try:
        bundle = parse_bundle(raw.decode("utf-8"), f"{pdf}#{ATTACHMENT_NAME}")
    except UnicodeDecodeError:
        raise InputError(f"{pdf}#{ATTACHMENT_NAME}: not UTF-8 text") from None
    except DigestMismatch as exc:
        raise VerificationFailed(exc.message) from None
    return raw, bundle
