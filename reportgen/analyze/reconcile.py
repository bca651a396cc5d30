"""Migration reconciliation: what the codebase expects vs what the database records vs what the
schema holds. Pure: bundle in, per-migration status out.

Each migration's schema effects (tables, columns, foreign keys, unique and indexed keys,
named indexes and constraints) are what its reader wrote into the bundle (Django mode: from
Django's own states; the static scan: from its replay of the operations); each is checked
against the inventory, skipping effects a later migration undoes. Nothing here knows a
framework's operations.

A migration's state rests on positive evidence, and on what Django itself guarantees:

- **Order is evidence.** ``migrate`` applies migrations in dependency order and records each
  right after applying it (on PostgreSQL an atomic migration's operations and its record
  commit together). When something a migration's descendant creates is present, the
  migration ran, RunPython and RunSQL included; when any of an atomic migration's own
  effects is present, all of it ran.
- A migration that ran but whose record is gone is re-recordable if its schema is in place,
  and **lost** (applied, then undone) if its schema is not: never "pending".
- **Pending** means nothing after it ran *and* its record cannot have been removed: the
  activity counters cover the time since its record could have been written and show no row
  removed from django_migrations. Without that, an unrecorded migration whose schema is
  absent is "pending, or applied and lost with its record" (pending_or_lost), saying what
  would decide it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from reportgen.analyze.model import FRAMEWORK_APPS, EffectCheck, MigrationStatus
from reportgen.bundle import (
    EvidenceBundle,
    MigrationFile,
    MigrationRecord,
    ModelTable,
    Relation,
    SchemaObject,
)
from reportgen.migration_graph import Key, apply_replacements, resolve_deps, topo_order
from reportgen.quoting import (
    SCRIPT_HEADER,
    python_literal,
    shell_command,
    sql_literal,
    sql_qualified,
)

#: Effect kinds matched by their key columns, not their name.
KEYED = ("foreign_key", "unique", "indexed")


@dataclass
class Effect:
    kind: str  # table, column, index, constraint, foreign_key, unique, indexed
    table: str
    name: str | None = None  # column / index / constraint
    present: bool = True  # expected presence after this operation
    columns: tuple[str, ...] | None = None  # foreign_key, unique, indexed
    ref: str | None = None  # foreign_key: the referenced table (shown only)
    checkable: bool = True  # False: a state-only change (what the database did is unknown)

    def label(self) -> str:
        if self.kind == "table":
            return f"table {self.table}"
        if self.kind == "column":
            return f"column {self.table}.{self.name}"
        cols = ", ".join(self.columns or ())
        if self.kind == "foreign_key":
            return f"foreign key {self.table}({cols})" + (f" → {self.ref}" if self.ref else "")
        if self.kind == "unique":
            return f"unique key {self.table}({cols})"
        if self.kind == "indexed":
            return f"index on {self.table}({cols})"
        return f"{self.kind} {self.name} on {self.table}"

    def key(self) -> tuple[str, str, str | None, tuple[str, ...] | None]:
        # An index's name is unique in its schema: ``DROP INDEX name`` names no table.
        table = "" if self.kind == "index" else self.table
        return (self.kind, table, self.name, self.columns)

    @classmethod
    def of(cls, o: SchemaObject, present: bool = True) -> Effect:
        return cls(o.kind, o.table, o.name, present,
                   tuple(o.columns) if o.columns is not None else None, o.ref_table,
                   not o.state_only)


@dataclass
class DanglingReference:
    migration: Key
    field: str
    target: str
    expected_table: str
    similar: list[str]


@dataclass(frozen=True)
class RecordHistory:
    """What the evidence says of django_migrations beyond the rows it holds now: whether a
    row can have been removed since a given time, and which rows a baseline held."""

    #: Rows of django_migrations in the baseline (None: no baseline).
    baseline: frozenset[Key] | None = None
    baseline_taken: datetime | None = None
    #: When the incident began, when known (timeline, server log, --incident-start).
    incident_start: datetime | None = None
    #: Since when the activity counters run (the later of stats_reset and the server's
    #: start: a crash restart discards them without setting stats_reset). None: unknown.
    counters_since: datetime | None = None
    #: Rows deleted from django_migrations since then (None: not known).
    deletes: int | None = None
    #: The table was rewritten since it was created (TRUNCATE changes its relfilenode): a
    #: truncation removes rows without counting deletes. None: not known.
    rewritten: bool | None = None
    #: Records were written again (faked) since: one is recorded as applied before its own
    #: dependency, so applied times no longer say when records first existed.
    rerecorded: bool = False
    #: The tracking table these facts are about.
    table: str = "django_migrations"

    def lower_bound(self, key: Key, recorded_deps: Iterable[datetime]) -> datetime | None:
        """The earliest time this migration's record can have been written (and so
        removed): after its recorded dependencies were applied. Neither the incident's start
        nor a baseline bounds it: a record may have gone long before either."""
        times = list(recorded_deps)
        return max(times) if times else None

    def nothing_removed_since(self, when: datetime | None) -> bool:
        return (when is not None and self.counters_since is not None
                and self.counters_since <= when and self.deletes == 0
                and self.rewritten is False)

    def undecided_because(self) -> str:
        """What the evidence lacks to tell pending from lost."""
        if self.rerecorded:
            return ("records were written again since (one is recorded as applied before its "
                    "own dependency), so no applied time says when records first existed")
        if self.counters_since is None or self.deletes is None:
            return f"no activity counters for {self.table}"
        if self.deletes:
            return (f"{self.deletes} row(s) were deleted from {self.table} since "
                    f"{self.counters_since:%Y-%m-%d %H:%M} UTC")
        if self.rewritten:
            return f"{self.table} was rewritten (TRUNCATE) since it was created"
        return (f"the activity counters run only since {self.counters_since:%Y-%m-%d %H:%M} "
                "UTC (statistics reset or server restart), after its record could have been "
                "written")


@dataclass
class Reconciliation:
    statuses: list[MigrationStatus]
    order: list[Key]
    checks: dict[Key, list[EffectCheck]]
    expected_tables: dict[str, str]  # table → app, after every migration
    created_by: dict[str, Key]  # table → migration that creates it
    inconsistent: list[tuple[Key, Key]]  # (applied migration, its unapplied dependency)
    dangling_dependencies: list[tuple[Key, Key]]
    dangling_references: list[DanglingReference]
    cycles: list[str]
    code_apps: set[str]
    fake_plan: list[Key]
    fake_blocked: dict[Key, str]  # unrecorded migration → why it cannot be faked
    # Once the plan is recorded: what Django's migrate --plan will list (dependency order),
    # and (applied, unrecorded dependency) pairs that still make the history inconsistent.
    after_unapplied: list[Key]
    after_inconsistent: list[tuple[Key, Key]]
    #: Effect kinds this bundle could not check (index keys of a bundle from before they
    #: were collected).
    unchecked_kinds: list[str] = field(default_factory=list)
    #: Absent tables the schema shows once existed: a migration that ran created a foreign
    #: key to it (PostgreSQL refuses one to a table that does not exist). Table → evidence.
    existed: dict[str, str] = field(default_factory=dict)
    #: What the evidence says of django_migrations' past, and per unrecorded migration the
    #: earliest time its record can have been written (see RecordHistory.lower_bound).
    history: RecordHistory = field(default_factory=lambda: RecordHistory())
    bounds: dict[Key, datetime | None] = field(default_factory=dict)
    #: Squashed migrations in the plan: the migrations each replaces.
    replaces: dict[Key, list[Key]] = field(default_factory=dict)
    #: Absent tables not called missing: a later migration whose effects are not all known
    #: names them, and may have dropped them.
    unverified_tables: list[str] = field(default_factory=list)

    def rows(self, plan: list[Key]) -> list[Key]:
        """The django_migrations rows that record ``plan`` as Django's own executor does: a
        squashed migration as the migrations it replaces, then itself (Django's loader
        counts a squash applied only when every migration it replaces is recorded)."""
        out: list[Key] = []
        for key in plan:
            out += [r for r in self.replaces.get(key, []) if r not in out]
            if key not in out:
                out.append(key)
        return out

    def records_never_removed(self, keys: Iterable[Key]) -> bool:
        """No record of these migrations can have been removed: the counters show no row
        removed from django_migrations since before each could have been written."""
        keys = list(keys)
        return bool(keys) and all(self.history.nothing_removed_since(self.bounds.get(k))
                                  for k in keys)


def live_tables(bundle: EvidenceBundle) -> dict[str, Relation] | None:
    """Tables in the schema the framework uses (its tracking table's schema, else public,
    else any)."""
    from reportgen.analyze.framework import tracked

    if bundle.inventory is None:
        return None
    tr = tracked(bundle)
    schema = tr.tables_schema or tr.schema_name
    rels = bundle.inventory.relations
    schemas = {r.schema_name for r in rels}
    if schema is None:
        schema = "public" if "public" in schemas or not schemas else sorted(schemas)[0]
    return {r.name: r for r in rels if r.schema_name == schema}


def reconcile(bundle: EvidenceBundle, history: RecordHistory | None = None
              ) -> Reconciliation | None:
    """None when there is no codebase, or when the records exist but could not be read (then
    nothing can be called recorded or unrecorded)."""
    from reportgen.analyze.framework import tracked

    if bundle.codebase is None:
        return None
    tr = tracked(bundle)
    if tr.table_present and not tr.readable:
        return None
    history = history or RecordHistory(table=tr.framework.tracker)
    migs = {(m.app, m.name): m for m in bundle.codebase.migrations}
    code_apps = {m.app for m in bundle.codebase.migrations}
    records: dict[Key, MigrationRecord] = {(r.app, r.name): r for r in tr.records}
    migs, records, replaced = apply_replacements(migs, records)
    live = live_tables(bundle)
    all_indexes = {i for r in (live or {}).values() for i in r.indexes}
    order, cycles = topo_order(migs, [(a, n) for a, n in bundle.codebase.plan])

    effects: dict[Key, list[Effect]] = {}
    opaque: dict[Key, list[str]] = {}
    for key in order:
        m = migs[key]
        if m.creates is None or m.removes is None:  # the reader could not say
            effects[key] = []
            opaque[key] = list(m.unverifiable) or [
                m.state_error or "its schema effects are not in the bundle (collected by an "
                "older reportgen: collect again)"]
            continue
        effects[key] = [Effect.of(o) for o in m.creates] + \
                       [Effect.of(o, present=False) for o in m.removes]
        opaque[key] = list(m.unverifiable)
    final_tables, created_by = _tables_from_effects(order, effects)
    superseded = _superseded(order, effects)
    unchecked: set[str] = set()

    # A migration whose effects are unknown altogether (its reader could not write them: an
    # Alembic revision offline mode cannot run) may have removed anything created before it:
    # what is absent before one proves nothing.
    position = {k: i for i, k in enumerate(order)}
    unknown_after = {key: [k for k in order[i + 1:]
                           if migs[k].creates is None or migs[k].partial]
                     for i, key in enumerate(order)}
    unverified: set[str] = set()

    def removal_possible(key: Key, e: Effect) -> bool:
        """A later migration whose effects are not all known names e's table (or e), and no
        recorded migration after it built on that table (or column) again."""
        return any(_may_touch(migs[u], e) and not any(
            k in records and _builds_on(effects[k], e) for k in order[position[u] + 1:])
            for u in unknown_after[key])

    checks: dict[Key, list[EffectCheck]] = {}
    for key in order:
        ch: list[EffectCheck] = []
        for i, e in enumerate(effects[key]):
            exp = "present" if e.present else "absent"
            if (key, i) in superseded:
                ch.append(EffectCheck(effect=e.label(), expected=exp, found="superseded"))
                continue
            found = _found(e, live, all_indexes) if e.checkable else "unknown"
            if found == "absent" and e.present and removal_possible(key, e):
                found = "unknown"
                if e.kind == "table":
                    unverified.add(pg_identifier(e.table))
            if found == "unknown" and live is not None and e.checkable and e.present:
                unchecked.add(e.kind)
            ch.append(EffectCheck(effect=e.label(), expected=exp, found=found))
        checks[key] = ch
    refs = [(k, fld, target) for k in order for fld, target in migs[k].unresolved or []]
    dangling_refs = _dangling_references(refs, bundle.codebase.models, code_apps, live)
    cannot_run = {d.migration: d for d in dangling_refs}
    deps = {k: _deps(k, migs) for k in order}
    ran_via = _ran_by_descendants(order, deps, checks)
    by_key: dict[Key, MigrationStatus] = {}
    bounds: dict[Key, datetime | None] = {}
    # Applied times bound when a record can have been written only if the history was not
    # written again: a migration recorded as applied before one of its own dependencies was
    # re-recorded (faked) since, and then no applied time says when records first existed.
    rerecorded = any(records[k].applied and records[d].applied
                    and records[k].applied < records[d].applied  # type: ignore[operator]
                    for k in order if k in records for d in deps[k] if d in records)
    if rerecorded:
        history = replace(history, rerecorded=True)
    for key in order:
        applied = [t for d in deps[key] if d in records and (t := records[d].applied)]
        bounds[key] = None if rerecorded else history.lower_bound(key, applied)
        by_key[key] = _classify(
            key, migs[key], checks[key], opaque[key], records.get(key), ran_via.get(key),
            history, applied, whole_unknown=live is None, dangling=cannot_run.get(key))
    for name in tr.failed:
        _failed_run(by_key.get((tr.framework.key, name)), migs.get((tr.framework.key, name)),
                    tr.framework.tracker)
    _propagate_pending(order, deps, by_key)
    statuses = [by_key[k] for k in order]
    existed = _existed(order, effects, checks, by_key, ran_via, migs)

    for key, rec in records.items():
        if key in migs or key in replaced:  # replaced by a squash: not a ghost
            continue
        in_scan = key[0] in code_apps
        statuses.append(MigrationStatus(
            app=key[0], name=key[1], in_code=False, recorded=True, applied_at=rec.applied,
            state="ghost_record" if in_scan else "recorded_not_in_scan", fake="not_applicable"))

    inconsistent = []
    dangling_deps = []
    for key in order:
        for dep in resolve_deps(migs[key], migs):
            if dep not in migs:
                if dep[0] in code_apps:  # the app is scanned, the migration is not there
                    dangling_deps.append((key, dep))
                continue
            if key in records and dep not in records:
                inconsistent.append((key, dep))

    fake_plan, blocked = _fake_plan(order, migs, by_key, records)
    after = set(records) | set(fake_plan)
    return Reconciliation(
        after_unapplied=[k for k in order if k not in after],
        after_inconsistent=[(k, d) for k in order if k in after
                            for d in resolve_deps(migs[k], migs) if d in migs and d not in after],
        statuses=statuses, order=order, checks=checks,
        expected_tables=final_tables, created_by=created_by, inconsistent=inconsistent,
        dangling_dependencies=dangling_deps, dangling_references=dangling_refs, cycles=cycles,
        code_apps=code_apps, fake_plan=fake_plan, fake_blocked=blocked,
        unchecked_kinds=sorted(unchecked), existed=existed, history=history, bounds=bounds,
        unverified_tables=sorted(unverified),
        replaces={k: [(a, n) for a, n in migs[k].replaces] for k in fake_plan
                  if migs[k].replaces})


def _may_touch(m: MigrationFile, e: Effect) -> bool:
    """A migration whose effects are not all known may have removed ``e``: unless the words
    of its source show it never names e's table (nor e's own name)."""
    if m.mentions is None:
        return True
    words = set(m.mentions)
    return e.table.lower() in words or (e.name or "").lower() in words


def _builds_on(later: list[Effect], e: Effect) -> bool:
    """A later migration's effects need e: an object on e's table (a table effect), one on
    e's column (a column effect), or a foreign key to e's table."""
    table = pg_identifier(e.table)
    for x in later:
        if not x.present:
            continue
        if x.kind == "foreign_key" and x.ref and pg_identifier(x.ref) == table \
                and e.kind == "table":
            return True
        if pg_identifier(x.table) != table or x.kind == "table":
            continue
        if e.kind == "table" or (e.kind == "column" and e.name in (x.columns or ())):
            return True
    return False


def _existed(order: list[Key], effects: Mapping[Key, list[Effect]],
             checks: Mapping[Key, list[EffectCheck]], by_key: Mapping[Key, MigrationStatus],
             ran_via: Mapping[Key, str], migs: Mapping[Key, MigrationFile]) -> dict[str, str]:
    """Absent tables the evidence shows once existed: tables of migrations shown to have run
    (their record gone: see _classify), and tables a migration which really ran created a
    foreign key to (the key could only be created while the table existed). A migration
    recorded as applied without running, with --fake, leaves no such trace."""
    out: dict[str, str] = {}
    for key in order:
        st = by_key[key]
        if st.state == "schema_lost_unrecorded":
            for x in st.missing:
                if x.startswith("table "):
                    out.setdefault(x.removeprefix("table "),
                                   f"{label(key)} created it and ran ({st.basis})")
    absent = {c.effect.removeprefix("table ") for ch in checks.values() for c in ch
              if c.effect.startswith("table ") and c.found == "absent"}
    for key in order:
        own = _positive(checks[key])
        really = (own and migs[key].atomic) or key in ran_via
        if not really:
            continue
        for e, c in zip(effects[key], checks[key], strict=True):
            if e.kind != "foreign_key" or not e.ref or c.found == "superseded":
                continue
            ref = pg_identifier(e.ref)
            if ref in absent and ref not in out:
                why = f"its own {own[0]} is present" if own else ran_via[key]
                out[ref] = (f"{label(key)} created a foreign key from {e.table} to it, "
                            f"and it ran ({why}): {ref} existed then")
    return out


def _deps(key: Key, migs: dict[Key, MigrationFile]) -> list[Key]:
    """What Django applies before this migration: its dependencies and every migration
    whose run_before names it."""
    out = [d for d in resolve_deps(migs[key], migs) if d in migs]
    out += [k for k, m in migs.items() if key in m.run_before and k not in out]
    return out


def _tables_from_effects(order: list[Key], effects: dict[Key, list[Effect]]
                        ) -> tuple[dict[str, str], dict[str, Key]]:
    """The tables that exist after every migration (table → app) and the migration that
    first creates each, from the migrations' effects in order."""
    tables: dict[str, str] = {}
    created_by: dict[str, Key] = {}
    for key in order:
        for e in effects[key]:
            if e.kind != "table":
                continue
            if e.present:
                tables[pg_identifier(e.table)] = key[0]
                created_by.setdefault(e.table, key)
            else:
                tables.pop(pg_identifier(e.table), None)
    return tables, created_by


def _superseded(order: list[Key], effects: dict[Key, list[Effect]]) -> set[tuple[Key, int]]:
    """Effects that a later migration reverses (so they are not checked against the DB)."""
    last: dict[tuple[str, str, str | None, tuple[str, ...] | None], tuple[Key, int]] = {}
    out: set[tuple[Key, int]] = set()
    for key in order:
        for i, e in enumerate(effects[key]):
            k = e.key()
            if k in last:
                out.add(last[k])
            if e.kind == "table" and not e.present:
                for other, pos in list(last.items()):
                    if other[1] == e.table and other[0] != "table":
                        out.add(pos)
            last[k] = (key, i)
    return out


NAMEDATALEN = 64


def label(key: Key) -> str:
    """A migration as its framework names it: app.name (Django), the revision (Alembic)."""
    return key[1] if key[0] in FRAMEWORK_APPS else f"{key[0]}.{key[1]}"


def pg_identifier(name: str) -> str:
    """What PostgreSQL stores for an identifier: at most NAMEDATALEN-1 bytes (it truncates
    longer names silently, on a character boundary)."""
    raw = name.encode("utf-8")
    if len(raw) < NAMEDATALEN:
        return name
    return raw[:NAMEDATALEN - 1].decode("utf-8", errors="ignore")


def _found(e: Effect, live: dict[str, Relation] | None, all_indexes: set[str]) -> str:
    """present / absent in the catalog; unknown without an inventory, or for a key kind this
    bundle did not collect (index keys of an older bundle)."""
    if live is None:
        return "unknown"
    rel = live.get(pg_identifier(e.table))
    if e.kind == "table":
        return "present" if rel else "absent"
    if rel is None:
        return "absent"
    if e.kind in KEYED:
        # A key's removal is not checked: another index or constraint on the same columns
        # (a named one replacing db_index, say) may stand there by design.
        return _key_found(e, rel) if e.present else "unknown"
    name = pg_identifier(e.name or "")
    if e.kind == "column":
        return "present" if any(c.name == name for c in rel.columns) else "absent"
    if e.kind == "index":
        return "present" if name in rel.indexes or name in all_indexes else "absent"
    return "present" if name in rel.constraints or name in rel.indexes else "absent"


def _key_found(e: Effect, rel: Relation) -> str:
    cols = [pg_identifier(c) for c in e.columns or ()]
    if e.kind == "foreign_key":
        # Matched by its columns: the table it references may have been renamed since.
        return "present" if any(fk.columns == cols for fk in rel.foreign_keys) else "absent"
    if rel.index_keys is None:
        return "unknown"
    if e.kind == "unique":
        return "present" if any(k.unique and not k.partial and sorted(c or "" for c in
                                                                        k.columns) == sorted(cols)
                                for k in rel.index_keys) else "absent"
    return "present" if any(not k.partial and k.columns == cols for k in rel.index_keys) \
        else "absent"


def _positive(ch: list[EffectCheck]) -> list[str]:
    """What this migration creates that is there now: the evidence it ran."""
    return [c.effect for c in ch if c.expected == "present" and c.found == "present"]


def _ran_by_descendants(order: list[Key], deps: Mapping[Key, list[Key]],
                        checks: Mapping[Key, list[EffectCheck]]) -> dict[Key, str]:
    """Migrations that ran because something a migration built on them creates is present
    (Django applies dependencies first): each with the evidence, e.g. "ran before
    taggit.0002, whose table taggit_tag is present"."""
    out: dict[Key, str] = {}
    for key in reversed(order):  # descendants come later in the order
        seen = _positive(checks[key])
        why = (f"ran before {label(key)}, whose {seen[0]} is present" if seen
               else out.get(key))
        if why is None:
            continue
        for dep in deps[key]:
            out.setdefault(dep, why)
    return out


def _classify(key: Key, m: MigrationFile, ch: list[EffectCheck], opaque: list[str],
              rec: MigrationRecord | None, ran_via: str | None, history: RecordHistory,
              deps_applied: list[datetime], *, whole_unknown: bool,
              dangling: DanglingReference | None = None) -> MigrationStatus:
    checked = [c for c in ch if c.found not in ("superseded", "unknown")]
    missing = [c.effect for c in checked if c.found != c.expected]
    present = _positive(checked)
    recorded = rec is not None
    deps = [label(d) for d in m.dependencies]
    base = dict(app=m.app, name=m.name, in_code=True, recorded=recorded,
                applied_at=rec.applied if rec else None, missing=missing, present=present,
                opaque=opaque, dependencies=deps, path=m.path)
    if whole_unknown:  # no inventory: nothing can be checked
        return MigrationStatus(**base, state="applied" if recorded else "unverifiable_unrecorded",
                               fake="not_applicable" if recorded else "unverifiable")
    if recorded:
        return MigrationStatus(**base, state="applied_schema_missing" if missing else "applied",
                               fake="not_applicable")
    in_baseline = history.baseline is not None and key in history.baseline
    ran = ran_via or ("the baseline records it as applied" if in_baseline else None) or (
        f"it is atomic and its own {present[0]} is present: all of it ran, its record with "
        "it" if present and m.atomic else None)
    if dangling is not None and not present:  # Django cannot apply it, so it never ran
        return MigrationStatus(**{**base, "opaque": []}, state="pending", fake="unsafe",
                               basis=f"it cannot have run: field {dangling.field} references "
                                     f"{dangling.target}, which no migration creates")
    if not ran and not present:
        bound = history.lower_bound(key, deps_applied)
        if history.nothing_removed_since(bound):
            return MigrationStatus(**{**base, "opaque": []}, state="pending", fake="unsafe",
                                   basis=f"never ran: no row was removed from {history.table} "
                                   f"since {bound:%Y-%m-%d %H:%M} UTC, before its record could "
                                   "have been written (activity counters), and none is there")
    if missing:
        if ran:
            return MigrationStatus(**base, state="schema_lost_unrecorded", fake="unsafe",
                                   basis=ran)
        if present:
            return MigrationStatus(**base, state="partially_applied", fake="unsafe",
                                   basis="non-atomic: a run may have stopped half-way")
        return MigrationStatus(
            **base, state="pending_or_lost", fake="unsafe",
            basis="its schema is absent and nothing built on it ran: not applied yet, or "
                  "applied and then lost with its record; " + history.undecided_because())
    if present and not opaque:
        return MigrationStatus(**base, state="schema_present_unrecorded", fake="safe",
                               basis="every effect it has is present")
    if ran:
        return MigrationStatus(**{**base, "opaque": []}, state="schema_present_unrecorded",
                               fake="safe", basis=ran)
    if present:  # non-atomic with opaque operations: those may not have run
        return MigrationStatus(**base, state="unverifiable_unrecorded", fake="unverifiable",
                               basis="non-atomic: its effects are present, but whether "
                               f"{', '.join(sorted(set(opaque)))} ran cannot be read")
    if m.noop and not opaque:
        return MigrationStatus(**base, state="unverifiable_unrecorded", fake="safe",
                               basis="its SQL for PostgreSQL is empty: whether it ran changes "
                               "nothing, so recording it is safe")
    why = sorted(set(opaque)) or [
        "no effect of it is visible: only removals, found absent, which prove nothing"
        if checked else "its effects were undone by later migrations: nothing to see"]
    # The removals held are not evidence of anything: not listed as present.
    return MigrationStatus(**{**base, "opaque": why, "present": []},
                           state="unverifiable_unrecorded", fake="unverifiable",
                           basis="nothing shows whether it ran: " + history.undecided_because())


def _failed_run(st: MigrationStatus | None, m: MigrationFile | None, table: str) -> None:
    """A migration whose run the tracker records as started and not finished (Prisma's
    failed row, golang-migrate's dirty version): what of it is present says how it ended.
    All of it: it finished and the tool was never told. None of it, atomic: its transaction
    rolled back; it never applied. Part of it: stopped half-way."""
    if st is None or m is None or st.recorded:
        return
    why = f"{table} records its run as started and not finished"
    if st.present and not st.missing and not st.opaque:
        st.state, st.fake = "schema_present_unrecorded", "safe"
        st.basis = f"{why}, but every effect it has is present: it finished"
    elif st.present and st.missing:
        st.state, st.fake = "partially_applied", "unsafe"
        st.basis = f"{why}; part of its schema is present: it stopped half-way"
    elif not st.present and m.atomic and (st.missing or m.noop):
        st.state, st.fake, st.opaque = "pending", "unsafe", []
        st.basis = (f"{why}; none of its schema is present and it runs as one transaction: "
                    "the transaction rolled back, it never applied")
    elif not st.present and not m.atomic:
        st.state, st.fake = "unverifiable_unrecorded", "unverifiable"
        st.basis = (f"{why}; none of its schema is present, but it commits on its own: "
                    "whatever ran before the failure stayed")


def _propagate_pending(order: list[Key], deps: Mapping[Key, list[Key]],
                       by_key: dict[Key, MigrationStatus]) -> None:
    """Django applies a migration only after its dependencies: one that depends on a pending
    migration is pending too, unless it shows it ran; on one that may be pending or lost, so
    may it."""
    for key in order:
        st = by_key[key]
        if st.recorded or st.present or st.state not in ("unverifiable_unrecorded",
                                                         "pending_or_lost", "pending"):
            continue
        states = {d: by_key[d].state for d in deps[key] if d in by_key}
        pending = next((d for d, s in states.items() if s in ("pending", "partially_applied")),
                       None)
        unsure = next((d for d, s in states.items() if s == "pending_or_lost"), None)
        if pending is not None and st.state != "pending":
            st.state, st.fake, st.opaque = "pending", "unsafe", []  # nothing to read: not run
            st.basis = f"depends on {label(pending)}, which is " \
                       f"{by_key[pending].state.replace('_', ' ')}"
            st.missing = st.missing or [st.basis]
        elif unsure is not None and st.state == "unverifiable_unrecorded":
            st.state, st.fake = "pending_or_lost", "unsafe"
            st.basis = f"depends on {label(unsure)}, which may be pending or lost"


def _fake_plan(order: list[Key], migs: dict[Key, MigrationFile],
               by_key: dict[Key, MigrationStatus],
               records: Mapping[Key, object]) -> tuple[list[Key], dict[Key, str]]:
    """Unrecorded migrations that may be recorded with --fake, in dependency order.

    A migration joins the plan only if its own schema effects are all present and every
    unrecorded dependency is in the plan too (``migrate --fake`` records dependencies as well).
    """
    plan: list[Key] = []
    blocked: dict[Key, str] = {}
    in_plan: set[Key] = set()
    for key in order:
        st = by_key[key]
        if st.recorded:
            continue
        if st.fake != "safe":
            reason = {"unsafe": "schema effects missing: " + ", ".join(st.missing[:5]),
                      "unverifiable": "contains " + ", ".join(sorted(set(st.opaque)))
                      + " (cannot be verified from the schema)"}.get(st.fake, st.fake)
            blocked[key] = reason
            continue
        bad = [d for d in resolve_deps(migs[key], migs)
               if d not in records and d not in in_plan]
        if bad:
            blocked[key] = "depends on " + ", ".join(label(d) for d in bad) + \
                ", which cannot be recorded"
            st.fake = "blocked"
            continue
        plan.append(key)
        in_plan.add(key)
    return plan, blocked


def _dangling_references(fk_targets: list[tuple[Key, str, str]], models: list[ModelTable],
                         code_apps: set[str], live: dict[str, Relation] | None
                         ) -> list[DanglingReference]:
    """Relations whose target no migration creates (the readers wrote them, with every model
    they saw): each with the models of that name elsewhere, where it may have gone."""
    out = []
    seen = set()
    known_models = {(s.app, s.model.lower()) for s in models}
    for key, fld, target in fk_targets:
        app, _, model = target.partition(".")
        model = model.lower()
        if (app, model) in known_models or app not in code_apps:
            continue
        table = pg_identifier(f"{app}_{model}")
        if live is not None and table in live:
            continue
        if (key, fld) in seen:
            continue
        seen.add((key, fld))
        similar = sorted(f"{s.app}.{s.model} (table {s.table})" for s in models
                         if s.model.lower() == model and s.has_table)
        out.append(DanglingReference(key, fld, target, table, similar))
    return out


def record_command(plan: list[Key], alias: str | None = None) -> str:
    """One ``manage.py shell -c`` command that records exactly these migrations with Django's
    own MigrationRecorder, in this order, on the database ``alias`` (the DATABASES alias the
    evidence was collected through; default: default). Unlike ``migrate APP NAME --fake`` it
    works when the history is inconsistent (migrate checks consistency first and stops), and
    it records nothing else (``--fake`` also records every unapplied dependency of its
    target). Names are Python string literals (``python_literal``: every control or non-ASCII
    character escaped, one outside the Basic Multilingual Plane too), inside one shell word."""
    pairs = ", ".join(f"({python_literal(a)}, {python_literal(n)})" for a, n in plan)
    code = ("from django.db import connections; "
            "from django.db.migrations.recorder import MigrationRecorder; "
            f"recorder = MigrationRecorder(connections[{python_literal(alias or 'default')}]); "
            f"[recorder.record_applied(app, name) for app, name in [{pairs}]]")
    return shell_command("python", "manage.py", "shell", "-c", code)


def plan_lines(plan: list[Key]) -> list[str]:
    """A recorder script's plan: one ``("app", "name"),`` per line, each name a Python string
    literal (``python_literal``), none indented (copied out of a PDF it runs as printed)."""
    return [f"({python_literal(a)}, {python_literal(n)})," for a, n in plan]


def record_script(plan: list[Key], alias: str | None = None) -> str:
    """The same records as ``record_command``, as a Python file for ``python manage.py shell
    < file``: one migration per line, no line indented or empty and never two spaces in a
    row (text copied from a PDF keeps it whole), and an UNDO switch that removes exactly
    these rows again."""
    return "\n".join([
        "from django.db import connections",
        "from django.db.migrations.recorder import MigrationRecorder",
        "UNDO = False # True: remove exactly these records again (record_unapplied)",
        f"recorder = MigrationRecorder(connections[{python_literal(alias or 'default')}])",
        "PLAN = [",
        *plan_lines(plan),
        "]",
        "step = recorder.record_unapplied if UNDO else recorder.record_applied",
        "for app, name in PLAN: step(app, name)",
        'print(("removed" if UNDO else "recorded"), len(PLAN), "migration record(s)")',
        ""])


def fake_sql(plan: list[Key], schema: str) -> str:
    """The recorder command's rows as SQL, for review. Names from the database and the
    codebase are quoted so none can end the statement; the header empties search_path, so
    the tracker is named with its schema."""
    table = sql_qualified(schema, "django_migrations")
    lines = [*SCRIPT_HEADER,
             "-- The same rows as the MigrationRecorder file, nothing else.",
             "BEGIN;"]
    lines.append(f"INSERT INTO {table} (app, name, applied) VALUES")
    lines += [f"({sql_literal(app)}, {sql_literal(name)}, pg_catalog.now())"
              + ("," if i < len(plan) - 1 else ";") for i, (app, name) in enumerate(plan)]
    lines.append("COMMIT;")
    return "\n".join(lines)
