"""`analyze`, `render`, `assess` and `archive`: from evidence to the assessment, the
documents and the archived incident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reportgen.errors import EXIT_OK, IncompleteEvidence

from .collecting import CollectOptions, collect_evidence
from .common import (
    EPILOG_EXIT,
    PROGRESS,
    command_line,
    formats,
    path_or_none,
    quiet_option,
    say,
    warn,
)
from .exits import gate
from .inputs import (
    Inputs,
    baseline_for,
    is_assessment,
    load_assessment,
    load_evidence,
    redacted,
    timeline_inputs,
    unverified,
)
from .options import (
    dsn_options,
    evidence_options,
    fail_on_option,
    no_verify_option,
    output_options,
    render_options,
    render_opts,
)


@click.command("analyze", epilog=EPILOG_EXIT)
@click.argument("bundle", type=click.Path(dir_okay=False))
@evidence_options
@click.option("--json", "as_json", is_flag=True, help="Print assessment.json to stdout.")
@no_verify_option
@fail_on_option
def analyze_cmd(bundle: str, baseline: str | None, baseline_store: str | None,
                trust_store: bool, timeline: str | None, incident_start: str | None, as_json: bool,
                no_verify: bool, fail_on: str | None) -> int:
    """Analyze a bundle: risks, findings and the data-loss verdict.

    \b
    Example:
      reportgen analyze evidence.json --fail-on HIGH
    """
    from reportgen.analyze import analyze
    from reportgen.options import RenderOptions

    b = load_evidence(bundle, not no_verify)
    if no_verify:
        unverified(bundle, b)
    base, events = timeline_inputs(baseline, timeline, not no_verify, incident_start)
    base = baseline_for(baseline, baseline_store, b, base, events, RenderOptions(), trust_store)
    a = analyze(b, base, events)
    if as_json:
        click.echo(json.dumps(a.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        click.echo(f"status: {a.status}")
        click.echo("risks:  " + "  ".join(f"{d}={lvl}" for d, lvl in a.risks.items()))
        click.echo(f"data loss: {a.data_loss} (basis: {a.data_loss_basis})")
        for f in a.findings:
            click.echo(f"  {f.severity:<8} {f.id:<36} {f.title}")
        rec = next((o for o in a.recovery_options if o.recommended), None)
        if rec:
            click.echo(f"recommended: {rec.title}")
    return gate(a, fail_on)


@click.command(epilog=EPILOG_EXIT)
@click.argument("source", metavar="BUNDLE|ASSESSMENT", type=click.Path(dir_okay=False))
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False),
              help="With an assessment.json: the bundle it assessed, for the identity and the "
              "listings (default: evidence.json beside it).")
@render_options
@click.option("--format", "fmt", default="md,pdf", show_default=True,
              help="Comma-separated: md, html, pdf.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output directory.")
@no_verify_option
@output_options
@quiet_option
def render(source: str, bundle_path: str | None, timeline: str | None,
           incident_start: str | None, baseline: str | None, baseline_store: str | None,
           trust_store: bool, title: str, incident: str | None, tz: str,
           contacts: tuple[str, ...], template_dir: str | None, fmt: str, out: str,
           no_verify: bool, pdf_variant: str | None, redact: bool, redaction_map: str) -> int:
    """Render the report from a saved bundle (same bundle, same Markdown, byte for byte), or
    redraw it from a saved assessment.json and its bundle without analyzing again.

    \b
    Examples:
      reportgen render evidence.json --timeline timeline.csv --tz UTC+6 --format md,pdf --out rep/
      reportgen render incident/assessment.json --tz UTC+6 --out rep/
    """
    from reportgen.outputs import render_outputs

    fmts = formats(fmt)
    opts = render_opts(title, incident, tz, contacts, [command_line()])
    if is_assessment(source):
        given = [o for o, v in (("--timeline", timeline), ("--incident-start", incident_start),
                                ("--baseline", baseline), ("--redact", redact)) if v]
        if given:
            raise click.UsageError(f"{', '.join(given)}: the assessment already weighed its "
                                   "evidence; render the bundle itself to change it")
        evidence = Path(bundle_path) if bundle_path else Path(source).parent / "evidence.json"
        b = load_evidence(evidence, not no_verify)
        opts.digest_note = unverified(evidence, b) if no_verify else None
        a = load_assessment(source, b)
        say(f"redrawing {source} (bundle {evidence}); nothing analyzed again")
        render_outputs(b, a, opts, Path(out), fmts, template_dir, pdf_variant=pdf_variant,
                       progress=PROGRESS)
        say(PROGRESS.summary(out))
        return EXIT_OK
    if bundle_path:
        raise click.UsageError("--bundle goes with an assessment.json; BUNDLE is the bundle")
    from reportgen.analyze import analyze

    b = load_evidence(source, not no_verify)
    opts.digest_note = unverified(source, b) if no_verify else None
    base, events = timeline_inputs(baseline, timeline, not no_verify, incident_start)
    base = baseline_for(baseline, baseline_store, b, base, events, opts, trust_store)
    i = redacted(Inputs(b, opts, base, events, path_or_none(timeline)), redact, redaction_map,
                 [Path(out)])
    a = analyze(i.bundle, i.baseline, i.events)
    if i.redactor is not None:  # the report cites this bundle's digest: it travels with it
        from reportgen.fileio import write_atomic

        write_atomic(Path(out) / "evidence.json", i.bundle.to_bytes())
        say(f"wrote {Path(out) / 'evidence.json'} (redacted)")
    render_outputs(i.bundle, a, i.opts, Path(out), fmts, template_dir,
                   pdf_variant=pdf_variant, progress=PROGRESS)
    say(PROGRESS.summary(out))
    return EXIT_OK


@click.command(epilog=EPILOG_EXIT)
@dsn_options
@render_options
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--format", "fmt", default="md,pdf", show_default=True,
              help="Report formats besides evidence.json and assessment.json.")
@click.option("--strict", is_flag=True, help="Exit 5 if any collector failed.")
@click.option("--archive", "archive_root", type=click.Path(file_okay=False),
              help="Also archive the incident under this root (e.g. docs/incidents).")
@click.option("--slug", help="Incident folder name after the date (default: from --title).")
@output_options
@fail_on_option
@quiet_option
def assess(timeline: str | None, incident_start: str | None, baseline: str | None,
           baseline_store: str | None, trust_store: bool, title: str, incident: str | None,
           tz: str, contacts: tuple[str, ...], template_dir: str | None, out: str, fmt: str,
           strict: bool, archive_root: str | None, slug: str | None, pdf_variant: str | None,
           redact: bool, redaction_map: str, fail_on: str | None, **kw: Any) -> int:
    """Collect, analyze and render in one go.

    Writes DIR/evidence.json, DIR/assessment.json, DIR/report.md and DIR/report.pdf.

    \b
    Example:
      reportgen assess --dsn "$DATABASE_URL" --project . --timeline timeline.csv \\
          --tz UTC+6 --out docs/incidents/2026-02-01-migrations/
    """
    from reportgen.outputs import assess_outputs

    fmts = formats(fmt)
    opts = render_opts(title, incident, tz, contacts, [command_line()])
    base, events = timeline_inputs(baseline, timeline, incident_start=incident_start)
    from reportgen.preload import preload

    # While the collection waits on the server.
    preload(*(["weasyprint"] if "pdf" in fmts else []), "reportgen.outputs",
            "reportgen.analyze.run")
    collected = collect_evidence(CollectOptions.pick(kw)).full()
    base = baseline_for(baseline, baseline_store, collected, base, events, opts, trust_store)
    i = redacted(Inputs(collected, opts, base, events, path_or_none(timeline)), redact,
                 redaction_map, [Path(out)] + ([Path(archive_root)] if archive_root else []))
    bundle = i.bundle
    written = assess_outputs(bundle, Path(out), i.opts, baseline=i.baseline, timeline=i.events,
                             formats=fmts, template_dir=template_dir,
                             pdf_variant=pdf_variant, progress=PROGRESS)
    if archive_root:
        from reportgen.archive import archive_incident

        folder = archive_incident(bundle, written.assessment, i.opts, Path(archive_root),
                                  slug=slug, timeline=i.timeline_copy(),
                                  baseline=i.baseline, template_dir=template_dir,
                                  pdf_variant=pdf_variant)
        say(f"archived {folder}")
    say(PROGRESS.summary(out))
    click.echo(f"status: {written.assessment.status}")
    if strict and not bundle.complete:
        raise IncompleteEvidence(f"evidence incomplete ({'; '.join(bundle.gaps())}) and "
                                 "--strict is set (outputs written)")
    return gate(written.assessment, fail_on)


@click.command("archive", epilog=EPILOG_EXIT)
@click.argument("bundle", type=click.Path(dir_okay=False))
@render_options
@click.option("--root", default="docs/incidents", show_default=True,
              type=click.Path(file_okay=False), help="Archive root.")
@click.option("--slug", help="Incident folder name after the date (default: from --title).")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False),
              help="Sign the manifest with this ssh private key (ssh-keygen -Y sign); "
              "verify --allowed-signers then proves who archived it.")
@output_options
def archive_cmd(bundle: str, timeline: str | None, incident_start: str | None,
                baseline: str | None, baseline_store: str | None, trust_store: bool, title: str,
                incident: str | None, tz: str, contacts: tuple[str, ...],
                template_dir: str | None, root: str, slug: str | None, sign_key: str | None,
                pdf_variant: str | None, redact: bool, redaction_map: str) -> int:
    """Archive an incident: DATE-SLUG/ with bundle, assessment, reports and a manifest.

    \b
    Example:
      reportgen archive evidence.json --timeline timeline.csv --title "Lost migration records"
    Never overwrites: a second archive of the same incident is added beside it as -r2.
    """
    from reportgen.analyze import analyze
    from reportgen.archive import archive_incident

    opts = render_opts(title, incident, tz, contacts, [command_line()])
    b = load_evidence(bundle)
    base, events = timeline_inputs(baseline, timeline, incident_start=incident_start)
    base = baseline_for(baseline, baseline_store, b, base, events, opts, trust_store)
    i = redacted(Inputs(b, opts, base, events, path_or_none(timeline)), redact, redaction_map,
                 [Path(root)])
    a = analyze(i.bundle, i.baseline, i.events)
    from reportgen.rehearse import TRANSCRIPT, with_transcript

    transcript = Path(bundle).parent / TRANSCRIPT  # a rehearsal of this bundle's fix
    rehearsal: bytes | None = None
    if transcript.is_file() and redact:
        warn(f"{transcript} is left out of a redacted archive (it names the database's "
             "objects as they are)")
    elif transcript.is_file():
        rehearsal = transcript.read_bytes()
        a = with_transcript(a, i.bundle, rehearsal, str(transcript))
    folder = archive_incident(i.bundle, a, i.opts, Path(root), slug=slug,
                              timeline=i.timeline_copy(), baseline=i.baseline,
                              template_dir=template_dir, pdf_variant=pdf_variant,
                              sign_key=Path(sign_key) if sign_key else None,
                              rehearsal=rehearsal)
    click.echo(f"archived {folder}")
    return EXIT_OK
