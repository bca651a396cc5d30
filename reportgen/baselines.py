"""The baseline store: evidence bundles taken before changes, so an incident's verdict can be
"confirmed" (tables and row deltas) or "none detected" instead of "unknown".

A store is a directory (local, or one a team syncs or mounts). Each baseline is an ordinary
bundle, gzip-compressed (``load_bundle``, ``diff``, ``render`` read it as it is), at
``<database>/<UTC time>.json.gz``, where ``<database>`` names the database it was taken from
(a readable part from its name, made safe for a file name, and a hash of its identity). An
index (``index.json``) lists them; it is rebuilt from the bundles when missing or damaged.
Writers take a lock on ``.lock`` while they change the index or prune.

A database's identity is its system identifier (pg_control_system), its name, and the
provider's endpoint when there is one (a Neon branch shares its parent's system identifier;
the endpoint tells them apart). Without a system identifier (a role that may not read it),
the host and port that were dialled stand in for it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportgen.bundle import EvidenceBundle, load_bundle
from reportgen.errors import InputError
from reportgen.fileio import write_atomic

ENV_STORE = "REPORTGEN_BASELINE_STORE"
INDEX = "index.json"
SUFFIX = ".json.gz"


@dataclass(frozen=True)
class DatabaseKey:
    system_identifier: str | None
    database: str
    endpoint: str | None  # provider endpoint; host:port when there is no system identifier

    @classmethod
    def of(cls, b: EvidenceBundle) -> DatabaseKey | None:
        ident = b.identity
        if ident is None:
            return None
        endpoint = ident.provider.endpoint
        if ident.system_identifier is None and endpoint is None:
            endpoint = f"{ident.connected_host}:{ident.connected_port}"
        return cls(ident.system_identifier, ident.current_database, endpoint)

    def describe(self) -> str:
        parts = [f"database {self.database!r}"]
        if self.system_identifier:
            parts.append(f"system identifier {self.system_identifier}")
        if self.endpoint:
            parts.append(f"endpoint {self.endpoint}")
        return ", ".join(parts)

    def folder(self) -> str:
        """A directory name: readable, safe whatever the names hold, and unique by hash."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.database).strip("._")[:40] or "db"
        return f"{readable}-{digest[:12]}"


@dataclass(frozen=True)
class Entry:
    file: str  # path inside the store
    taken_at: str  # ISO time (UTC) the snapshot was taken
    system_identifier: str | None
    database: str
    endpoint: str | None
    host: str | None
    digest: str
    bytes: int
    relations: int
    tables: int
    counted: int  # tables counted exactly; the rest carry estimates

    @property
    def key(self) -> DatabaseKey:
        return DatabaseKey(self.system_identifier, self.database, self.endpoint)

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.taken_at)


def store_dir(option: str | Path | None) -> Path:
    where = option or os.environ.get(ENV_STORE)
    if not where:
        raise InputError(f"no baseline store: give --store DIR (or --baseline-store) or set "
                         f"{ENV_STORE}")
    return Path(where)


@contextlib.contextmanager
def _locked(store: Path) -> Iterator[None]:
    import fcntl

    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _identity(b: EvidenceBundle, what: str) -> DatabaseKey:
    key = DatabaseKey.of(b)
    if key is None:
        raise InputError(f"{what} has no database identity (its identity collector failed): "
                         "it cannot serve as a baseline")
    return key


def _entry(store: Path, path: Path, b: EvidenceBundle) -> Entry:
    key = _identity(b, str(path))
    inv = b.inventory
    tables = [r for r in inv.relations if r.kind in ("table", "partitioned table")] if inv \
        else []
    return Entry(file=path.relative_to(store).as_posix(),
                 taken_at=b.collection.started_at.isoformat(),
                 system_identifier=key.system_identifier, database=key.database,
                 endpoint=key.endpoint, host=b.target.host, digest=b.digest,
                 bytes=path.stat().st_size, relations=len(inv.relations) if inv else 0,
                 tables=len(tables), counted=sum(1 for r in tables if r.exact_rows is not None))


def _read_index(store: Path) -> list[Entry] | None:
    try:
        data = json.loads((store / INDEX).read_text("utf-8"))
        return [Entry(**e) for e in data["baselines"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_index(store: Path, entries: list[Entry]) -> None:
    entries = sorted(entries, key=lambda e: (e.database, e.taken_at, e.file))
    doc = {"format": 1, "baselines": [asdict(e) for e in entries]}
    write_atomic(store / INDEX, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())


def rebuild_index(store: Path) -> list[Entry]:
    """The index from the bundles themselves (each read and its digest checked)."""
    entries = []
    for path in sorted(store.glob(f"*/*{SUFFIX}")):
        try:
            entries.append(_entry(store, path, load_bundle(path)))
        except InputError:
            continue  # damaged or not a bundle: never offered as a baseline
    _write_index(store, entries)
    return entries


def _stale(store: Path, found: list[Entry] | None) -> bool:
    """The index is missing, damaged, or names a bundle that is gone."""
    return found is None or any(not (store / e.file).is_file() for e in found)


def _indexed(store: Path) -> list[Entry]:
    """The index, rebuilt first when stale (the caller holds the lock)."""
    found = _read_index(store)
    return rebuild_index(store) if found is None or _stale(store, found) else found


def entries(store: Path) -> list[Entry]:
    """Every baseline in the store, oldest first."""
    if not store.is_dir():
        raise InputError(f"{store}: no such baseline store (a directory)")
    found = _read_index(store)
    if found is None or _stale(store, found):
        with _locked(store):  # only a rebuild writes: a read-only store can still be listed
            found = _indexed(store)
    return sorted(found, key=lambda e: (e.taken_at, e.file))


def add(store: Path, b: EvidenceBundle) -> Entry:
    """Store a bundle as a baseline (compressed), and index it."""
    key = _identity(b, "the collection")
    stamp = b.collection.started_at.strftime("%Y%m%dT%H%M%S%fZ")
    path = store / key.folder() / f"{stamp}{SUFFIX}"
    data = gzip.compress(b.to_bytes(), compresslevel=6, mtime=0)
    with _locked(store):
        write_atomic(path, data)
        entry = _entry(store, path, b)
        _write_index(store, [e for e in _indexed(store) if e.file != entry.file] + [entry])
    return entry


def prune(store: Path, keep: int | None = None, keep_days: float | None = None,
          now: datetime | None = None) -> list[Entry]:
    """Remove old baselines, per database: beyond the newest ``keep``, and older than
    ``keep_days`` before ``now`` (default: the current time). The newest baseline of each
    database is always kept."""
    if keep is None and keep_days is None:
        return []
    now = now or datetime.now(UTC)
    removed: list[Entry] = []
    with _locked(store):
        current = _indexed(store)
        by_db: dict[DatabaseKey, list[Entry]] = {}
        for e in current:
            by_db.setdefault(e.key, []).append(e)
        kept = []
        for group in by_db.values():
            group.sort(key=lambda e: e.taken_at, reverse=True)
            for i, e in enumerate(group):
                old = keep_days is not None and e.time < now - timedelta(days=keep_days)
                if i > 0 and ((keep is not None and i >= keep) or old):
                    removed.append(e)
                else:
                    kept.append(e)
        for e in removed:
            with contextlib.suppress(FileNotFoundError):
                (store / e.file).unlink()
        _write_index(store, kept)
    return removed


@dataclass(frozen=True)
class Choice:
    entry: Entry | None
    why: str


def pick(store: Path, current: EvidenceBundle, before: datetime, reason: str) -> Choice:
    """The latest baseline of the same database taken before ``before`` (``reason`` says what
    that time is), and why; never one of another database."""
    key = DatabaseKey.of(current)
    if key is None:
        return Choice(None, "this collection has no database identity, so no baseline can be "
                            "matched to it")
    all_entries = entries(store)
    same = [e for e in all_entries if e.key == key]
    earlier = [e for e in same if e.time < before]
    if not earlier:
        others = f"{len(all_entries) - len(same)} of other databases, never used"
        if not same:
            return Choice(None, f"no baseline of this database ({key.describe()}) in {store} "
                                f"({others})")
        return Choice(None, f"no baseline of this database ({key.describe()}) taken before "
                            f"{before:%Y-%m-%d %H:%M:%S} UTC ({reason}) in {store}: "
                            f"{len(same)} of it, all later; {others}")
    chosen = max(earlier, key=lambda e: e.taken_at)
    counted = (f"{chosen.counted} of {chosen.tables} tables counted exactly"
               if chosen.tables else "no tables")
    return Choice(chosen, f"{chosen.file}, taken {chosen.time:%Y-%m-%d %H:%M:%S} UTC: the "
                          f"latest of {len(earlier)} baseline(s) of this database "
                          f"({key.describe()}) taken before {reason} "
                          f"({before:%Y-%m-%d %H:%M:%S} UTC); {counted}")


def describe_store(store: Path, current: EvidenceBundle) -> str:
    """Which baselines of this database the store holds, for a message."""
    key = DatabaseKey.of(current)
    same = sorted((e for e in entries(store) if e.key == key), key=lambda e: e.taken_at) \
        if key is not None else []
    if not same:
        return f"the store {store} holds no baseline of this database"
    if len(same) == 1:
        return f"the store holds one baseline of it, taken {same[0].time:%Y-%m-%d %H:%M:%S} UTC"
    return (f"the store holds {len(same)} baselines of it, taken from "
            f"{same[0].time:%Y-%m-%d %H:%M:%S} to {same[-1].time:%Y-%m-%d %H:%M:%S} UTC")


def load(store: Path, entry: Entry) -> EvidenceBundle:
    return load_bundle(store / entry.file)
