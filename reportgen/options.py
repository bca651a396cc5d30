"""How the documents are to be drawn: the responder's choices (title, incident name, time
zone, contacts) and what the run did (its commands, how a baseline was chosen). Set by the
CLI, the archive and redaction; read by the renderers: so it lives below all of them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RenderOptions:
    title: str = "Incident assessment"
    incident: str | None = None
    tz: str = "UTC"
    contacts: list[tuple[str, str]] = field(default_factory=list)
    commands_used: list[str] = field(default_factory=list)
    #: How the baseline was chosen (``--baseline auto``): which one and why.
    baseline_note: str | None = None
    #: Read with --no-verify: the report says its bundle's digest was not verified (and
    #: whether it matches the content).
    digest_note: str | None = None
