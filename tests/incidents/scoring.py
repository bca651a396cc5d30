"""Scoring one cell: what reportgen said, against the ground truth the cell planted.

- **wrong** (a failure): loss reported on a shape without loss; INTACT, ``none_detected`` or
  "pending" on a shape with loss; a hypothesis SUPPORTED that the truth contradicts (or
  CONTRADICTED that it supports); a migration classed against what Django and the catalog
  say happened to it; a recommended command that fails, that Django rejects, or that changes
  rows the shape did not lose;
- **undecided** (allowed, counted): unknown or suspected, with the missing evidence named;
- **right**.

The truth comes from the catalog and the rows (world.read_facts) before and after the
incident, Django's own records, and what each migration creates per Django's ProjectState
(the Django-mode codebase: the framework's answer, never reportgen's static scan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.incidents.shapes import Shape
from tests.incidents.world import Facts

RIGHT, UNDECIDED, WRONG = "right", "undecided", "wrong"
RANK = {RIGHT: 0, UNDECIDED: 1, WRONG: 2}
Key = tuple[str, str]


@dataclass
class Truth:
    shape: Shape
    before: Facts
    after: Facts

    def _oids_after(self) -> set[int]:
        return {oid for _, oid in self.after.relations.values()}

    @property
    def lost_tables(self) -> set[str]:
        """Tables whose oid is gone (a renamed table is not lost)."""
        now = self._oids_after()
        return {r for r, (k, oid) in self.before.relations.items()
                if k in ("r", "p") and oid not in now}

    @property
    def lost_columns(self) -> set[str]:
        now = self._oids_after()
        return {f"{self.before.name_of(oid)}.{c}" for oid, c in
                self.before.columns - self.after.columns if oid in now}

    @property
    def rows_removed(self) -> dict[str, tuple[int, int]]:
        """Rows gone from tables that remain (the migration records apart: they are the
        records_removed truth), by the table's name before the incident."""
        out = {}
        for oid, n in self.before.counts.items():
            name = self.before.name_of(oid) or "?"
            if oid in self.after.counts and self.after.counts[oid] < n \
                    and not name.endswith(".django_migrations"):
                out[name] = (n, self.after.counts[oid])
        return out

    @property
    def rows_lost(self) -> set[str]:
        """Rows removed from tables that remain, but not by design (churn)."""
        return set(self.rows_removed) - self.shape.churn

    @property
    def views_dropped(self) -> set[str]:
        now = self._oids_after()
        return {r for r, (k, oid) in self.before.relations.items()
                if k in ("v", "m") and oid not in now}

    def keys_lost(self, attr: str) -> set[tuple[str, tuple[str, ...]]]:
        """Keys of tables that remain, gone: (the table's name now, columns)."""
        before, after = getattr(self.before, attr), getattr(self.after, attr)
        now = self._oids_after()
        return {(self.after.name_of(oid) or "?", cols) for oid, cols in before - after
                if oid in now}

    @property
    def data_lost(self) -> bool:
        return bool(self.lost_tables or self.lost_columns or self.rows_lost)

    @property
    def records_removed(self) -> set[Key]:
        return self.before.records - self.after.records

    def hypotheses(self) -> dict[str, bool | None]:
        out: dict[str, bool | None] = {
            "records_deleted": bool(self.records_removed), "never_recorded": False,
            "tables_dropped": bool(self.lost_tables),
            "rows_deleted": bool(self.rows_lost), "dangling_reference": False,
            "query_blind": None, "wrong_database": None}
        out.update(self.shape.hypotheses)
        return out

    def damaged(self, objects: list[dict[str, Any]]) -> bool:
        """Whether the incident took any of these schema objects (a migration's creates) that
        existed before it: its table gone, its column, key, index or constraint gone."""
        b, a = self.before, self.after
        now = self._oids_after()
        for o in objects:
            oid = b.oid(f"public.{_stored(o['table'])}")
            if oid is None:
                continue  # not there before the incident (renamed or removed since)
            kind, cols = o["kind"], tuple(o.get("columns") or ())
            gone = oid not in now
            if kind == "table" and gone:
                return True
            col = (oid, _stored(o["name"] or ""))
            if kind == "column" and col in b.columns and (gone or col not in a.columns):
                return True
            name = f"public.{_stored(o['name'] or '')}"
            if kind in ("index", "constraint") and name in b.indexes and name not in a.indexes:
                return True
            for k, attr, key in (("foreign_key", "foreign_keys", cols),
                                 ("unique", "unique_keys", tuple(sorted(cols))),
                                 ("indexed", "index_keys", cols)):
                if kind == k and (oid, key) in getattr(b, attr) \
                        and (gone or (oid, key) not in getattr(a, attr)):
                    return True
        return False

    def migration_classes(self, codebase: list[dict[str, Any]]) -> dict[Key, str]:
        """What happened to each migration: applied, damaged (recorded, schema taken),
        rerecord (ran; only its record deleted), lost (ran; record and schema taken),
        pending, half (a non-atomic run stopped midway), faked (recorded, never ran)."""
        out: dict[Key, str] = {}
        for m in codebase:
            key = (m["app"], m["name"])
            before, after = key in self.before.records, key in self.after.records
            hit = self.damaged(m.get("creates") or [])
            if before and after:
                out[key] = "damaged" if hit else "applied"
            elif before:
                out[key] = "lost" if hit else ("rerecord" if m.get("creates") else "ran")
            elif after:
                out[key] = "faked"
            else:
                out[key] = "half" if key in self.shape.half_applied else "pending"
        return out


def _stored(name: str) -> str:
    """A name as PostgreSQL stores it: truncated to 63 bytes."""
    return name.encode()[:63].decode(errors="ignore")


#: For each truth class: the states that are right, and those that are undecided (anything
#: else is wrong). "ran": a migration with no schema objects of its own whose record went.
CLASS_STATES: dict[str, tuple[set[str], set[str]]] = {
    "applied": ({"applied"}, set()),
    "damaged": ({"applied_schema_missing"}, set()),
    "rerecord": ({"schema_present_unrecorded"}, {"unverifiable_unrecorded", "blocked"}),
    "ran": ({"schema_present_unrecorded", "schema_lost_unrecorded"},
            {"unverifiable_unrecorded", "blocked", "pending_or_lost"}),
    "lost": ({"schema_lost_unrecorded"}, {"pending_or_lost", "unverifiable_unrecorded"}),
    "pending": ({"pending"}, {"pending_or_lost", "unverifiable_unrecorded"}),
    "half": ({"partially_applied"}, {"unverifiable_unrecorded", "pending_or_lost"}),
    "faked": ({"applied_schema_missing"}, set()),
}


@dataclass
class Score:
    verdict: str = RIGHT
    notes: list[str] = field(default_factory=list)

    def add(self, verdict: str, note: str) -> None:
        if verdict != RIGHT:
            self.notes.append(f"{verdict}: {note}")
        if RANK[verdict] > RANK[self.verdict]:
            self.verdict = verdict


def state_of(m: dict[str, Any]) -> str:
    """The migration's state, with a blocked fake told apart (it ran, by its own schema, but
    waits for a dependency)."""
    return "blocked" if m["fake"] == "blocked" else m["state"]


def score(truth: Truth, assessment: dict[str, Any], codebase: list[dict[str, Any]],
          *, unread_apps: set[str], full_evidence: bool) -> Score:
    """``codebase``: Django's own migrations (Django mode) with their creates; ``unread_apps``:
    apps whose files the run did not read; ``full_evidence``: the collecting role could read
    the migration records."""
    s = Score()
    _data_loss(s, truth, assessment)
    _status(s, truth, assessment, unread_apps)
    _migrations(s, truth, assessment, codebase, unread_apps, full_evidence)
    _hypotheses(s, truth, assessment)
    _churn(s, truth, assessment)
    _schema_objects(s, truth, assessment)
    return s


def _data_loss(s: Score, truth: Truth, a: dict[str, Any]) -> None:
    verdict = a["data_loss"]
    if truth.data_lost:
        if verdict == "confirmed":
            s.add(RIGHT, "")
        elif verdict == "none_detected":
            s.add(WRONG, "data_loss none_detected, but data was lost")
        else:
            s.add(UNDECIDED, f"data_loss {verdict} ({a['data_loss_explanation'][:120]})")
    elif verdict == "confirmed":
        s.add(WRONG, f"data_loss confirmed on a shape without loss: "
                     f"{a['data_loss_explanation'][:160]}")
    elif verdict == "suspected":
        s.add(UNDECIDED, f"data_loss suspected ({a['data_loss_explanation'][:120]})")


def _status(s: Score, truth: Truth, a: dict[str, Any], unread: set[str]) -> None:
    status = a["status"]
    if "TABLES INTACT" in status:
        if truth.lost_tables:
            s.add(WRONG, f"status '{status}' while tables were dropped")
        if truth.lost_columns and "COLUMNS MISSING" not in status:
            s.add(WRONG, f"status '{status}' while columns were dropped")
        if unread:
            s.add(WRONG, f"status '{status}' while apps were not read")


def _migrations(s: Score, truth: Truth, a: dict[str, Any], codebase: list[dict[str, Any]],
                unread: set[str], full: bool) -> None:
    said = {(m["app"], m["name"]): m for m in a["migrations"]}
    # A squash stands for the migrations it replaces (as Django's loader treats them).
    squash = {(r[0], r[1]): (m["app"], m["name"]) for m in codebase
              for r in m.get("replaces") or []}
    for key, cls in sorted(truth.migration_classes(codebase).items()):
        if cls == "applied" and key not in said and not full:
            continue
        m = said.get(key) or said.get(squash.get(key, key))
        if m is None or m["state"] == "recorded_not_in_scan":
            if key[0] not in unread and full and cls != "applied":
                s.add(UNDECIDED, f"{key[0]}.{key[1]} ({cls}) not judged")
            continue
        right, undecided = CLASS_STATES[cls]
        state = state_of(m)
        if state in right:
            continue
        if state in undecided:
            s.add(UNDECIDED, f"{key[0]}.{key[1]} ({cls}) said {state}")
        else:
            s.add(WRONG, f"{key[0]}.{key[1]} is {cls}, reportgen says {state} "
                         f"(missing {m['missing'][:3]})")


def _hypotheses(s: Score, truth: Truth, a: dict[str, Any]) -> None:
    said = {h["id"]: h for h in a["hypotheses"]}
    for hid, expected in truth.hypotheses().items():
        h = said.get(hid)
        if expected is None or h is None:
            continue
        verdict = h["verdict"]
        if verdict == "undecided":
            s.add(UNDECIDED, f"hypothesis {hid} undecided")
        elif (verdict == "supported") != expected:
            ev = h["evidence_for"] if verdict == "supported" else h["evidence_against"]
            s.add(WRONG, f"hypothesis {hid} {verdict}, truth {expected}: {ev[:2]}")


def _churn(s: Score, truth: Truth, a: dict[str, Any]) -> None:
    for t in truth.shape.churn:
        name = t.partition(".")[2]
        for f in a["findings"]:
            if f["severity"] == "CRITICAL" and any(name in x for x in f["subjects"]):
                s.add(WRONG, f"{t} churns by design, yet CRITICAL {f['id']}")
        for o in a["recovery_options"]:
            if o["recommended"] and (o.get("script") or "").find(f'"{name}"') >= 0:
                s.add(WRONG, f"{t} churns by design, yet the recommended repair restores it")


def _schema_objects(s: Score, truth: Truth, a: dict[str, Any]) -> None:
    """Views and materialized views are not tables: never reported as lost tables. With a
    baseline, every view, foreign key and index the incident took is named."""
    lost_subjects = {x for f in a["findings"] if f["id"] in (
        "data.tables_dropped_since_baseline", "data.tables_missing") for x in f["subjects"]}
    for v in truth.views_dropped:
        if v in lost_subjects or v.partition(".")[2] in lost_subjects:
            s.add(WRONG, f"view {v} reported as a lost table")
    if a.get("baseline_digest") is None:
        return
    named = " ".join(x for f in a["findings"] for x in f["subjects"])
    for v in truth.views_dropped:
        if v not in named:
            s.add(WRONG, f"the baseline has view {v}; the report does not name it")
    for table, cols in truth.keys_lost("foreign_keys") | truth.keys_lost("unique_keys"):
        if table not in named:
            s.add(WRONG, f"the baseline has a key on {table}{cols}; the report does not "
                         "name it")


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=lambda v: RANK[v]) if verdicts else RIGHT
