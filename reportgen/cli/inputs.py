"""What the analysis and the reports read besides the database: bundles (brought to this
schema version), a saved assessment, the baseline (given, or chosen from the store), the
responder's timeline; and the redacted copies of all of them when --redact is given."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reportgen.errors import InputError, OutputError

from .common import say, warn

if TYPE_CHECKING:
    from reportgen.analyze.model import Assessment
    from reportgen.bundle import EvidenceBundle, TimelineEntry
    from reportgen.options import RenderOptions
    from reportgen.redact import Redactor


def load_evidence(path: str | Path, verify: bool = True) -> EvidenceBundle:
    """A bundle from a file, completed by the readers when it is of an older schema version
    (collect/upgrade.py); its bytes and digest as they are."""
    from reportgen.bundle import load_bundle
    from reportgen.collect.upgrade import upgrade

    return upgrade(load_bundle(path, verify_digest=verify))


def unverified(path: str | Path, bundle: EvidenceBundle) -> str | None:
    """--no-verify reads a bundle whatever its digest says; when the digest does not match
    the content, say so on stderr and return the words the report's header carries (None
    when it matches: nothing was skipped after all)."""
    if bundle.digest == bundle.compute_digest():
        return None
    note = ("digest not verified (--no-verify): it does NOT match the content; the bundle was "
            "changed after collection")
    warn(f"warning: {path}: {note}")
    return note


def is_assessment(path: str | Path) -> bool:
    """Whether the file is an assessment.json (it names the bundle it assessed), not a
    bundle. Only its opening is read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False  # the bundle reader says what is wrong with it
    return b'"bundle_digest"' in head and b'"tool_version"' in head


def load_assessment(path: str | Path, bundle: EvidenceBundle) -> Assessment:
    """A saved assessment.json, checked to be of ``bundle`` and of a version this reportgen
    reads."""
    from pydantic import ValidationError

    from reportgen.analyze.model import ASSESSMENT_SCHEMA_VERSION, Assessment
    from reportgen.bundle import invalid

    name = str(path)
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{name}: cannot read the assessment: {exc}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or version > ASSESSMENT_SCHEMA_VERSION:
        raise InputError(f"{name}: assessment schema_version {version!r} is not one this "
                         f"reportgen reads ({ASSESSMENT_SCHEMA_VERSION}); run reportgen "
                         "analyze --json on the bundle again")
    try:
        a = Assessment.model_validate(data)
    except ValidationError as exc:
        raise invalid(name, exc) from None
    if a.bundle_digest != bundle.digest:
        raise InputError(f"{name} assessed bundle {a.bundle_digest}, not {bundle.digest}: "
                         "give the bundle it was made from with --bundle")
    return a


@dataclass
class Inputs:
    """What a command renders from, redacted when --redact is given."""

    bundle: EvidenceBundle
    opts: RenderOptions
    baseline: EvidenceBundle | None
    events: list[TimelineEntry]
    timeline: Path | None
    redactor: Redactor | None = None

    def timeline_copy(self) -> Path | bytes | None:
        """The timeline file as it may be archived: its text redacted with the rest."""
        if self.timeline is None or self.redactor is None:
            return self.timeline
        return self.redactor.text(self.timeline.read_text("utf-8-sig")).encode("utf-8")


def redacted(i: Inputs, redact: bool, map_path: str, shared: list[Path]) -> Inputs:
    from reportgen.fileio import write_atomic
    from reportgen.redact import (
        Redactor,
        redact_bundle,
        redact_events,
        redact_options,
        write_mapping,
    )

    if not redact:
        return i
    target = Path(map_path).resolve()
    for folder in shared:
        if folder.resolve() == target.parent or folder.resolve() in target.parents:
            raise click.BadParameter(f"{map_path} is inside {folder}: keep the map out of what "
                                     "is shared", param_hint="--redaction-map")
    r = Redactor()
    base = redact_bundle(i.baseline, r) if i.baseline is not None else None
    red = redact_bundle(i.bundle, r)
    events = redact_events(i.events, r)
    opts = redact_options(i.opts, r)
    # An earlier run's map and unredacted bundle are never overwritten: the first free name
    # beside them is taken (map-2.json, ...), and said.
    def original_of(t: Path) -> Path:
        return t.with_name(t.stem + ".original-evidence.json")

    target = _free_name(target, lambda t: [t, original_of(t)])
    write_mapping(r, target)
    original = original_of(target)
    write_atomic(original, i.bundle.to_bytes(), mode=0o600)
    say(f"redacted {len(r.mapping)} names; map in {target}, unredacted bundle in {original}")
    return Inputs(red, opts, base, events, i.timeline, r)


def _free_name(path: Path, companions: Callable[[Path], list[Path]]) -> Path:
    """``path``, or ``stem-2``, ``stem-3``, ... : the first whose files all do not exist."""
    for n in range(1, 1000):
        cand = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not any(os.path.lexists(c) for c in companions(cand)):
            return cand
    raise OutputError(f"{path}: 999 earlier redaction maps beside it; choose --redaction-map")


def timeline_inputs(baseline: str | None, timeline: str | None, verify: bool = True,
                    incident_start: str | None = None
                    ) -> tuple[EvidenceBundle | None, list[TimelineEntry]]:
    """The baseline (unless auto: chosen once the bundle is known) and the responder's
    timeline, with --incident-start as its own entry."""
    from reportgen.timeline_file import load_timeline, start_entry

    base = load_evidence(baseline, verify) if baseline and baseline != "auto" else None
    events = load_timeline(timeline) if timeline else []
    if incident_start is not None:
        events.append(start_entry(incident_start))
    return base, events


def baseline_for(arg: str | None, store: str | None, bundle: EvidenceBundle,
                 base: EvidenceBundle | None, events: list[TimelineEntry],
                 opts: RenderOptions, trust_store: bool = False) -> EvidenceBundle | None:
    """``--baseline auto``: the latest baseline of this database in the store taken before
    the incident began (--incident-start, else the timeline's first event, else the server
    log's first destructive statement); said on stderr and in the report. Without the
    incident's start it does not guess between baselines that may be from either side of
    it. An explicit baseline of another database is used as asked, with a warning. A store
    other users can write to is refused unless ``trust_store``."""
    from reportgen import baselines
    from reportgen.analyze.context import incident_start, this_database

    if arg != "auto":
        if base is not None:
            key, other = baselines.DatabaseKey.of(bundle), baselines.DatabaseKey.of(base)
            if key and other and key != other:
                warn(f"warning: the baseline is of another database ({other.describe()}; "
                     f"this is {key.describe()}): compared as asked")
        return base
    where = baselines.store_dir(store)
    problems = baselines.store_problems(where)
    if problems and not trust_store:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"--baseline auto: the baseline store {where} is not yours alone: "
                         f"{problems[0]}{more}; a baseline in it could be forged. Fix its "
                         "owner and permissions (chmod go-w), or pass --trust-store")
    for p in problems:
        warn(f"warning: --trust-store: {p}")
    start = incident_start(this_database(bundle)[0], events)
    if start is None:
        warn("warning: --baseline auto: when the incident began is not known, so a "
             "baseline from before it cannot be told from one taken after "
             f"({baselines.describe_store(where, bundle)}); give --incident-start, "
             "--timeline or --server-log; assessing without a baseline")
        return None
    choice = baselines.pick(where, bundle, start.time, start.source)
    if choice.entry is None:
        warn(f"warning: --baseline auto: {choice.why}; assessing without a baseline")
        return None
    say(f"baseline: {choice.why}")
    opts.baseline_note = f"chosen by --baseline auto: {choice.why}"
    return choice.bundle
