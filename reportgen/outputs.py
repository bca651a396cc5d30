"""Writing the assessment and the reports (each file through fileio.write_atomic)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reportgen.analyze import analyze
from reportgen.analyze.model import Assessment, TimelineEntry
from reportgen.bundle import EvidenceBundle
from reportgen.fileio import write_atomic
from reportgen.render.html import render_html
from reportgen.render.markdown import render_markdown
from reportgen.render.pdf import render_pdf
from reportgen.render.view import RenderOptions


def assessment_json(a: Assessment) -> bytes:
    return (json.dumps(a.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n").encode()


@dataclass
class Written:
    paths: list[Path]
    assessment: Assessment


def render_outputs(bundle: EvidenceBundle, assessment: Assessment, opts: RenderOptions,
                   out: Path, formats: Iterable[str], template_dir: str | Path | None = None,
                   stem: str = "report", pdf_variant: str | None = None) -> list[Path]:
    formats = list(formats)
    written = []
    text = render_markdown(bundle, assessment, opts, template_dir)
    if "md" in formats:
        p = out / f"{stem}.md"
        write_atomic(p, text.encode("utf-8"))
        written.append(p)
    if "html" in formats or "pdf" in formats:
        html_text = render_html(text, bundle, assessment, opts, template_dir)
        if "html" in formats:
            p = out / f"{stem}.html"
            write_atomic(p, html_text.encode("utf-8"))
            written.append(p)
        if "pdf" in formats:
            p = out / f"{stem}.pdf"
            payload = bundle.to_bytes()
            write_atomic(p, lambda tmp: render_pdf(html_text, tmp, template_dir,
                                                   bundle_json=payload, variant=pdf_variant))
            written.append(p)
    return written


def assess_outputs(bundle: EvidenceBundle, out: Path, opts: RenderOptions, *,
                   baseline: EvidenceBundle | None = None,
                   timeline: list[TimelineEntry] | None = None,
                   formats: Iterable[str] = ("md", "pdf"),
                   template_dir: str | Path | None = None,
                   pdf_variant: str | None = None) -> Written:
    """evidence.json, assessment.json and the reports, in that order."""
    a = analyze(bundle, baseline, timeline)
    paths = [out / "evidence.json", out / "assessment.json"]
    write_atomic(paths[0], bundle.to_bytes())
    write_atomic(paths[1], assessment_json(a))
    paths += render_outputs(bundle, a, opts, out, formats, template_dir,
                            pdf_variant=pdf_variant)
    return Written(paths, a)
