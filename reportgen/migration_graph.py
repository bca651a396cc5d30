"""A migration graph as the framework builds it: dependencies resolved, squashes applied as
Django's MigrationLoader applies them, a deterministic dependency order. Shared by the readers
(which replay migrations in this order) and the analyzer (which compares in it)."""

from __future__ import annotations

from collections import defaultdict

from reportgen.bundle import MigrationFile, MigrationRecord

Key = tuple[str, str]  # (app, migration name)


def topo_order(migs: dict[Key, MigrationFile], plan: list[Key] | None = None
               ) -> tuple[list[Key], list[str]]:
    """Deterministic topological order (Kahn), dependencies first; reports cycles. Where the
    dependencies leave the order open, ``plan`` (the framework's own order of application)
    decides, else the names do."""
    rank = {k: i for i, k in enumerate(plan or [])}

    def key(k: Key) -> tuple[int, Key]:
        return rank.get(k, len(rank)), k

    deps: dict[Key, set[Key]] = {k: set() for k in migs}
    for k, m in migs.items():
        for d in resolve_deps(m, migs):
            if d in migs:
                deps[k].add(d)
        for rb in m.run_before:
            if rb in migs:
                deps[rb].add(k)
    order: list[Key] = []
    ready = sorted((k for k, d in deps.items() if not d), key=key)
    remaining = {k: set(d) for k, d in deps.items()}
    dependents: dict[Key, set[Key]] = defaultdict(set)
    for k, ds in deps.items():
        for d in ds:
            dependents[d].add(k)
    while ready:
        k = ready.pop(0)
        order.append(k)
        for child in sorted(dependents[k]):
            remaining[child].discard(k)
            if not remaining[child] and child not in order and child not in ready:
                ready.append(child)
                ready.sort(key=key)
    cycles = [f"{a}.{n}" for (a, n) in sorted(set(migs) - set(order))]
    return order + sorted(set(migs) - set(order)), cycles


def resolve_deps(m: MigrationFile, migs: dict[Key, MigrationFile]) -> list[Key]:
    out = []
    for app, name in m.dependencies:
        if name in ("__first__", "__latest__") and app == m.app:
            continue  # Django ignores these on the migration's own app (#22325)
        if name in ("__first__", "__latest__"):
            names = sorted(n for (a, n) in migs if a == app)
            if names:
                out.append((app, names[0] if name == "__first__" else names[-1]))
            else:
                out.append((app, name))
        else:
            out.append((app, name))
    return out


def apply_replacements(migs: dict[Key, MigrationFile], records: dict[Key, MigrationRecord]
                       ) -> tuple[dict[Key, MigrationFile], dict[Key, MigrationRecord], set[Key]]:
    """Squashed migrations, exactly as Django's MigrationLoader.build_graph treats them.

    A squash counts as applied only if every migration it replaces is recorded; it is used
    (and the replaced nodes dropped) when all or none of them are, otherwise the replaced
    migrations stay and the squash is dropped. Dependencies on dropped nodes point at the
    node that replaced them.
    """
    migs = dict(migs)
    records = dict(records)
    replaced_names: set[Key] = set()
    for key, m in sorted(migs.items()):
        if not m.replaces or key not in migs:
            continue
        targets = [(a, n) for a, n in m.replaces]
        replaced_names.update(targets)
        applied = [t in records for t in targets]
        if all(applied):
            last = max((records[t] for t in targets),
                       key=lambda r: (r.applied is not None, r.applied))
            records[key] = MigrationRecord(app=key[0], name=key[1], applied=last.applied)
        else:
            records.pop(key, None)
        if all(applied) or not any(applied):
            for t in targets:
                migs.pop(t, None)
            remap = {t: key for t in targets}
        else:
            migs.pop(key, None)
            remap = {}
        if remap:
            for k, other in list(migs.items()):
                deps = [remap.get((a, n), (a, n)) for a, n in other.dependencies]
                if deps != list(other.dependencies):
                    migs[k] = other.model_copy(update={"dependencies": deps})
    return migs, records, replaced_names
