"""``--redact``: replace host names, IP addresses, user/role names and database names with
stable pseudonyms (the same original is the same pseudonym everywhere), in the bundle copy that
is shared and everything rendered from it. The mapping goes only to a separate local file.

Replacement is by whole token (a name inside a longer identifier is left alone), longest
names first; IPv4/IPv6 addresses are also found by pattern in every text.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reportgen.bundle import EvidenceBundle, TimelineEntry
from reportgen.fileio import write_atomic
from reportgen.options import RenderOptions

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![:\w])(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}(?![:\w])")
BUILTIN_ROLES = re.compile(r"^pg_")
#: Keys whose values are reportgen's own vocabulary (never a name from the database).
KEEP_KEYS = {"digest", "schema_version", "kind", "status", "op"}


@dataclass
class Redactor:
    mapping: dict[str, str] = field(default_factory=dict)  # original -> pseudonym
    counters: dict[str, int] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    def add(self, kind: str, value: str | None) -> None:
        if not value or value in self.mapping or len(value) < 2:
            return
        self.counters[kind] = self.counters.get(kind, 0) + 1
        self.mapping[value] = f"{kind}-{self.counters[kind]}"
        self._pattern = None

    def _regex(self) -> re.Pattern[str]:
        if self._pattern is None:
            names = sorted(self.mapping, key=len, reverse=True)
            alts = "|".join(re.escape(n) for n in names) or r"(?!x)x"
            self._pattern = re.compile(rf"(?<![\w.-])(?:{alts})(?![\w-])")
        return self._pattern

    def text(self, s: str) -> str:
        for rx in (_IPV4, _IPV6):
            for m in rx.findall(s):
                if _is_ip(m):
                    self.add("ip", m)
        return self._regex().sub(lambda m: self.mapping[m.group(0)], s)

    def value(self, v: Any, key: str = "") -> Any:
        if isinstance(v, str):
            return v if key in KEEP_KEYS else self.text(v)
        if isinstance(v, list):
            return [self.value(x, key) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x, k) for k, x in v.items()}
        return v

    def original_of(self) -> dict[str, str]:
        return {p: o for o, p in sorted(self.mapping.items(), key=lambda kv: kv[1])}


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def learn(r: Redactor, b: EvidenceBundle) -> None:
    """Collect the names to hide, by kind, from where the bundle keeps them."""
    t = b.target
    for h in (t.host, t.service):
        r.add("host", h)
    r.add("ip", t.hostaddr)
    r.add("user", t.user)
    r.add("db", t.dbname)
    if b.identity is not None:
        i = b.identity
        r.add("host", i.connected_host)
        r.add("host", i.provider.endpoint)
        r.add("ip", i.server_addr)
        r.add("db", i.current_database)
        for u in (i.current_user, i.session_user, *i.role_memberships):
            if not BUILTIN_ROLES.match(u):
                r.add("user", u)
    if b.inventory is not None:
        for rel in b.inventory.relations:
            if not BUILTIN_ROLES.match(rel.owner):
                r.add("user", rel.owner)
            for holder in rel.locked_by:
                r.add("user", holder.user)
    if b.inventory is not None:
        for rel in b.inventory.relations:
            for holder in rel.locked_by:
                r.add("app", holder.application_name)
    if b.server_log is not None:
        for e in b.server_log.events:
            r.add("user", e.user)
            r.add("db", e.database)
            r.add("app", e.application)
    if b.signals is not None:
        for s in b.signals.statements:
            r.add("user", s.user)


def redact_bundle(b: EvidenceBundle, r: Redactor) -> EvidenceBundle:
    learn(r, b)
    data = r.value(b.model_dump(mode="json", exclude={"digest"}))
    data["redacted"] = True
    return EvidenceBundle.model_validate(data).sealed()


def redact_options(opts: RenderOptions, r: Redactor) -> RenderOptions:
    return replace(opts, title=r.text(opts.title),
                   incident=r.text(opts.incident) if opts.incident else None,
                   contacts=[(r.text(role), r.text(who)) for role, who in opts.contacts],
                   commands_used=[r.text(c) for c in opts.commands_used],
                   baseline_note=r.text(opts.baseline_note) if opts.baseline_note else None)


def redact_events(events: list[TimelineEntry], r: Redactor) -> list[TimelineEntry]:
    """The responder's timeline with the same pseudonyms: every sentence derived from it
    (the restore point's reason, hypotheses' evidence) is then redacted too."""
    return [e.model_copy(update={"event": r.text(e.event), "source": r.text(e.source)})
            for e in events]


def write_mapping(r: Redactor, path: Path) -> None:
    payload = {"note": "reportgen redaction map: pseudonym -> original. Keep it local; never "
                       "attach it to the ticket.", "pseudonyms": r.original_of()}
    write_atomic(path, (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode(),
                 mode=0o600)
