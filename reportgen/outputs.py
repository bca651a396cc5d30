"""Writing the assessment and the reports (each file through fileio.write_atomic)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reportgen.analyze.model import Assessment, TimelineEntry
from reportgen.bundle import EvidenceBundle
from reportgen.fileio import write_atomic
from reportgen.progress import Progress
from reportgen.render.html import render_html
from reportgen.render.listing import inventory_listings, tenant_listings
from reportgen.render.markdown import render_markdown
from reportgen.render.pdf import render_pdf
from reportgen.render.view import RenderOptions, View


def assessment_json(a: Assessment) -> bytes:
    return (json.dumps(a.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n").encode()


@dataclass
class Written:
    paths: list[Path]
    assessment: Assessment


def _quiet() -> Progress:
    return Progress(quiet=True)


def render_outputs(bundle: EvidenceBundle, assessment: Assessment, opts: RenderOptions,
                   out: Path, formats: Iterable[str], template_dir: str | Path | None = None,
                   stem: str = "report", pdf_variant: str | None = None,
                   progress: Progress | None = None) -> list[Path]:
    """The reports, and beside them the complete inventory as CSV and JSON (the report's
    body only summarises it; the PDF carries both files, with the bundle, as attachments).
    Each file is written as soon as it is ready, and said so on ``progress``."""
    formats = list(formats)
    p_ = progress or _quiet()
    written: list[Path] = []

    def wrote(path: Path) -> None:
        written.append(path)
        p_.info(f"wrote {path}")

    view = View(bundle, assessment)  # the Markdown's, and the listings' applications
    listings: list[tuple[str, bytes]] = []
    if bundle.inventory is not None and formats:
        with p_.stage("listings", "writing the inventory listings"):
            listings = inventory_listings(bundle, view.app_by_relation) + \
                tenant_listings(assessment)
            for name, data in listings:
                write_atomic(out / name, data)
                wrote(out / name)
    with p_.stage("markdown", "rendering Markdown"):
        text = render_markdown(bundle, assessment, opts, template_dir, view)
        if "md" in formats:
            write_atomic(out / f"{stem}.md", text.encode("utf-8"))
            wrote(out / f"{stem}.md")
    fixes = [(f.name, f.content.encode("utf-8")) for o in assessment.recovery_options
             for f in o.files] if formats else []
    _drop_stale_fixes(out / "fix", {name for name, _ in fixes})
    for name, data in fixes:  # the recommended fixes, as files to run
        write_atomic(out / name, data, mode=0o755 if name.endswith(".sh") else None)
        wrote(out / name)
    transcripts = _transcripts(assessment, out) if "pdf" in formats else []
    if "html" in formats or "pdf" in formats:
        with p_.stage("html", "rendering HTML"):
            html_text = render_html(text, bundle, assessment, opts, template_dir)
            if "html" in formats:
                page = render_html(text, bundle, assessment, opts, template_dir,
                                   standalone=True)
                write_atomic(out / f"{stem}.html", page.encode("utf-8"))
                wrote(out / f"{stem}.html")
        if "pdf" in formats:
            with p_.stage("pdf", "rendering the PDF"):
                payload = bundle.to_bytes()
                write_atomic(out / f"{stem}.pdf", lambda tmp: render_pdf(
                    html_text, tmp, template_dir, bundle_json=payload, variant=pdf_variant,
                    listings=listings, fixes=fixes, transcripts=transcripts))
                wrote(out / f"{stem}.pdf")
    return written


def _transcripts(a: Assessment, out: Path) -> list[tuple[str, bytes]]:
    """The rehearsal transcripts beside the report that its options name (name, bytes), each
    only as the digest on its option says it is."""
    found = []
    for o in a.recovery_options:
        r = o.rehearsal
        path = out / r.transcript if r is not None else None
        if r is not None and path is not None and path.is_file():
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == r.transcript_sha256:
                found.append((r.transcript, data))
    return found


#: The names of fix files reportgen writes (analyze/fixfiles.py).
_FIX_FILE = re.compile(r"option-\d+\.(py|sql|sh)|repair\.sql|foreign-keys\.sql")


def _drop_stale_fixes(folder: Path, keep: set[str]) -> None:
    """A fix file an earlier report wrote into the same folder, which this report does not
    recommend, is removed: run by mistake, it would apply another report's fix. Only
    reportgen's own names; nothing else in fix/ is touched."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_file() and _FIX_FILE.fullmatch(p.name) and f"fix/{p.name}" not in keep:
            p.unlink()


def assess_outputs(bundle: EvidenceBundle, out: Path, opts: RenderOptions, *,
                   baseline: EvidenceBundle | None = None,
                   timeline: list[TimelineEntry] | None = None,
                   formats: Iterable[str] = ("md", "pdf"),
                   template_dir: str | Path | None = None,
                   pdf_variant: str | None = None,
                   progress: Progress | None = None) -> Written:
    """evidence.json, assessment.json and the reports, in that order."""
    from reportgen.analyze import analyze

    p_ = progress or _quiet()
    paths = [out / "evidence.json", out / "assessment.json"]
    write_atomic(paths[0], bundle.chunks())  # a large catalog's pieces, never joined here
    p_.info(f"wrote {paths[0]}")
    with p_.stage("analyze", "analyzing"):
        a = analyze(bundle, baseline, timeline)
        write_atomic(paths[1], assessment_json(a))
    p_.info(f"wrote {paths[1]}")
    paths += render_outputs(bundle, a, opts, out, formats, template_dir,
                            pdf_variant=pdf_variant, progress=p_)
    return Written(paths, a)
