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
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportgen.bundle import EvidenceBundle, load_bundle
from reportgen.errors import InputError, OutputError
from reportgen.fileio import write_atomic

ENV_STORE = "REPORTGEN_BASELINE_STORE"
INDEX = "index.json"
SUFFIX = ".json.gz"
LOCK = ".lock"
#: How long a command waits for another's lock before it gives up (the Django hook: less).
LOCK_TIMEOUT_S = 30.0
#: A bundle taken later than this after now is "from the future" (a clock, or a forgery).
FUTURE_SKEW = timedelta(minutes=5)
_FOLDER = re.compile(r"[A-Za-z0-9_.-]{1,40}-[0-9a-f]{12}")
_FILE = re.compile(r"[0-9]{8}T[0-9]{12}Z" + re.escape(SUFFIX))


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
    mtime_ns: int = 0  # with bytes: the file this entry was read from, unchanged
    future: bool = field(default=False, compare=False)  # set when listed, never stored

    @property
    def key(self) -> DatabaseKey:
        return DatabaseKey(self.system_identifier, self.database, self.endpoint)

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.taken_at)


def store_dir(option: str | Path | None) -> Path:
    """The store's resolved path (a symbolic link to it is the user's own choice; nothing
    below it is followed)."""
    where = option or os.environ.get(ENV_STORE)
    if not where:
        raise InputError(f"no baseline store: give --store DIR (or --baseline-store) or set "
                         f"{ENV_STORE}")
    return Path(os.path.realpath(where))


class StoreBusy(OutputError):
    """Another process holds the store's lock for longer than we wait."""


@contextlib.contextmanager
def _locked(store: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    import fcntl

    store.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(store / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                     | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        why = "it is a symbolic link" if os.path.islink(store / LOCK) else exc.strerror
        raise OutputError(f"cannot open the baseline store's lock {store / LOCK} ({why}); "
                          "remove it, or use a store of your own") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputError(f"{store / LOCK} is not a regular file; remove it")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"the baseline store {store} is locked by another process "
                                    f"(waited {timeout_s:g} s for {store / LOCK}); try again "
                                    "when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _identity(b: EvidenceBundle, what: str) -> DatabaseKey:
    key = DatabaseKey.of(b)
    if key is None:
        raise InputError(f"{what} has no database identity (its identity collector failed): "
                         "it cannot serve as a baseline")
    return key


def _files(store: Path) -> dict[str, os.stat_result]:
    """The store's baseline files: regular files named as reportgen names them, in real
    sub-folders so named; no symbolic link is followed (an entry that is one is skipped)."""
    found: dict[str, os.stat_result] = {}
    try:
        folders = list(os.scandir(store))
    except FileNotFoundError:
        return found
    for d in folders:
        if not _FOLDER.fullmatch(d.name) or not d.is_dir(follow_symlinks=False):
            continue
        for f in os.scandir(d.path):
            if _FILE.fullmatch(f.name) and f.is_file(follow_symlinks=False):
                found[f"{d.name}/{f.name}"] = f.stat(follow_symlinks=False)
    return found


def _inside(store: Path, rel: str) -> Path:
    """``rel`` as a path in the store, only when it names a baseline file as reportgen does,
    in a real folder of the store, not through a link."""
    parts = rel.split("/")
    if len(parts) != 2 or not _FOLDER.fullmatch(parts[0]) or not _FILE.fullmatch(parts[1]):
        raise InputError(f"{rel!r} does not name a baseline file in the store")
    folder = store / parts[0]
    if folder.is_symlink() or not folder.is_dir():
        raise InputError(f"{folder} is not a folder of the store (a link is never followed)")
    return folder / parts[1]


def _entry(store: Path, rel: str, b: EvidenceBundle, st: os.stat_result) -> Entry:
    key = _identity(b, rel)
    inv = b.inventory
    tables = [r for r in inv.relations if r.kind in ("table", "partitioned table")] if inv \
        else []
    return Entry(file=rel, taken_at=b.collection.started_at.isoformat(),
                 system_identifier=key.system_identifier, database=key.database,
                 endpoint=key.endpoint, host=b.target.host, digest=b.digest,
                 bytes=st.st_size, relations=len(inv.relations) if inv else 0,
                 tables=len(tables), counted=sum(1 for r in tables if r.exact_rows is not None),
                 mtime_ns=st.st_mtime_ns)


def _read_index(store: Path) -> list[Entry] | None:
    try:
        fd = os.open(store / INDEX, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = json.loads(fh.read(64 << 20))
        return [Entry(**{k: v for k, v in e.items() if k != "future"})
                for e in data["baselines"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    finally:
        os.close(fd)


def _write_index(store: Path, entries: list[Entry]) -> None:
    entries = sorted(entries, key=lambda e: (e.database, e.taken_at, e.file))
    doc = {"format": 2, "baselines": [{k: v for k, v in asdict(e).items() if k != "future"}
                                      for e in entries]}
    write_atomic(store / INDEX, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())


@dataclass
class Listing:
    """The store as read now: its baselines, and the files that could not serve as one."""

    entries: list[Entry]
    skipped: list[str]  # "file: why"


def _scan(store: Path, cache: list[Entry] | None) -> tuple[Listing, bool]:
    """Every baseline file, its entry reused from ``cache`` only when the file's size and
    modification time are the ones it was read with, else read again (digest checked).
    Second value: whether the index needs writing."""
    cached = {e.file: e for e in cache or []}
    found: list[Entry] = []
    skipped: list[str] = []
    changed = cache is None
    for rel, st in sorted(_files(store).items()):
        e = cached.pop(rel, None)
        if e is not None and (e.bytes, e.mtime_ns) == (st.st_size, st.st_mtime_ns):
            found.append(e)
            continue
        changed = True
        try:
            found.append(_entry(store, rel, load_bundle(store / rel), st))
        except InputError as exc:  # damaged, a bomb, or not a bundle: never offered
            skipped.append(f"{rel}: {exc.message}")
    return Listing(found, skipped), changed or bool(cached)


def _flag_future(found: list[Entry], now: datetime) -> list[Entry]:
    return [replace(e, future=e.time > now + FUTURE_SKEW) for e in found]


def listing(store: Path, now: datetime | None = None) -> Listing:
    """Every baseline in the store, oldest first, those from the future flagged; the index
    is brought up to date when the store can be written (a read-only store is still read)."""
    if not store.is_dir():
        raise InputError(f"{store}: no such baseline store (a directory)")
    found, changed = _scan(store, _read_index(store))
    if changed:
        with contextlib.suppress(OutputError, OSError), _locked(store, timeout_s=1.0):
            _write_index(store, found.entries)
    found.entries = sorted(_flag_future(found.entries, now or datetime.now(UTC)),
                           key=lambda e: (e.taken_at, e.file))
    return found


def entries(store: Path) -> list[Entry]:
    """Every baseline in the store, oldest first."""
    return listing(store).entries


def rebuild_index(store: Path) -> list[Entry]:
    """The index from the bundles themselves, every one read again (digest checked)."""
    found, _ = _scan(store, None)
    with _locked(store):
        _write_index(store, found.entries)
    return found.entries


def store_problems(store: Path) -> list[str]:
    """Why the store's contents may not be this user's own: the store or a folder of it
    writable by group or others, or owned by another user; a baseline file owned by
    another user."""
    me = os.geteuid()
    problems = []

    def check(p: Path, st: os.stat_result, what: str) -> None:
        if st.st_uid != me:
            problems.append(f"{what} {p} is owned by uid {st.st_uid}, not {me}")
        if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o022:
            problems.append(f"{what} {p} is writable by "
                            + ("group and others" if st.st_mode & 0o022 == 0o022 else
                               "others" if st.st_mode & 0o002 else "its group"))

    if not store.is_dir():
        return problems
    check(store, store.stat(), "the store")
    files = _files(store)
    for name in sorted({rel.split("/")[0] for rel in files}):
        check(store / name, (store / name).lstat(), "folder")
    for rel, st in sorted(files.items()):
        check(store / rel, st, "baseline")
    return problems


def add(store: Path, b: EvidenceBundle, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Entry:
    """Store a bundle as a baseline (compressed), and index it."""
    key = _identity(b, "the collection")
    stamp = b.collection.started_at.strftime("%Y%m%dT%H%M%S%fZ")
    rel = f"{key.folder()}/{stamp}{SUFFIX}"
    data = gzip.compress(b.to_bytes(), compresslevel=6, mtime=0)
    with _locked(store, lock_timeout_s):
        folder = store / key.folder()
        if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
            raise OutputError(f"{folder} is not a folder of the store (a link is never "
                              "followed); remove it")
        folder.mkdir(exist_ok=True)
        path = _inside(store, rel)
        write_atomic(path, data)
        if not os.path.realpath(path).startswith(str(store) + os.sep):
            raise OutputError(f"{path} resolved outside the store {store}; check the store")
        entry = _entry(store, rel, b, path.lstat())
        found, _ = _scan(store, _read_index(store))
        _write_index(store, [e for e in found.entries if e.file != rel] + [entry])
    return entry


def _verified(store: Path, entry: Entry) -> EvidenceBundle | None:
    """The bundle an entry names, only when it is what the entry says (identity, digest and
    time, from the bundle itself)."""
    try:
        b = load_bundle(_inside(store, entry.file))
    except InputError:
        return None
    if (DatabaseKey.of(b) != entry.key or b.digest != entry.digest
            or b.collection.started_at.isoformat() != entry.taken_at):
        return None
    return b


def prune(store: Path, keep: int | None = None, keep_days: float | None = None,
          now: datetime | None = None, lock_timeout_s: float = LOCK_TIMEOUT_S) -> list[Entry]:
    """Remove old baselines, per database: beyond the newest ``keep``, and older than
    ``keep_days`` before ``now`` (default: the current time). The newest baseline of each
    database is always kept; one from the future is never counted as newer and never
    removed; each file is read before it is removed, and kept unless it is what its entry
    says."""
    if keep is None and keep_days is None:
        return []
    now = now or datetime.now(UTC)
    removed: list[Entry] = []
    with _locked(store, lock_timeout_s):
        found, _ = _scan(store, _read_index(store))
        current = _flag_future(found.entries, now)
        by_db: dict[DatabaseKey, list[Entry]] = {}
        for e in current:
            if not e.future:
                by_db.setdefault(e.key, []).append(e)
        for group in by_db.values():
            group.sort(key=lambda e: e.taken_at, reverse=True)
            for i, e in enumerate(group):
                old = keep_days is not None and e.time < now - timedelta(days=keep_days)
                if i > 0 and ((keep is not None and i >= keep) or old) \
                        and _verified(store, e) is not None:
                    removed.append(e)
        for e in removed:
            _unlink(_inside(store, e.file))
        _write_index(store, [e for e in found.entries if e not in removed])
    return removed


def _unlink(path: Path) -> None:
    """Remove a baseline file through a descriptor of its folder opened without following a
    link: a folder swapped for a link meanwhile is refused, never followed."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"{path.parent}: not a folder of the store ({exc.strerror})") from None
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Choice:
    entry: Entry | None
    why: str
    bundle: EvidenceBundle | None = None  # the entry's bundle, verified


def pick(store: Path, current: EvidenceBundle, before: datetime, reason: str) -> Choice:
    """The latest baseline of the same database taken before ``before`` (``reason`` says what
    that time is), and why; never one of another database, never one whose bundle is not
    what the index says (identity, digest, time), never one from the future."""
    key = DatabaseKey.of(current)
    if key is None:
        return Choice(None, "this collection has no database identity, so no baseline can be "
                            "matched to it")
    all_entries = entries(store)
    same = [e for e in all_entries if e.key == key and not e.future]
    earlier = sorted((e for e in same if e.time < before), key=lambda e: e.taken_at)
    others = f"{len(all_entries) - len(same)} of other databases or from the future, never used"
    rejected = []
    while earlier:
        chosen = earlier.pop()
        b = _verified(store, chosen)
        if b is None:
            rejected.append(chosen.file)
            continue
        counted = (f"{chosen.counted} of {chosen.tables} tables counted exactly"
                   if chosen.tables else "no tables")
        skipped = (f"; skipped {', '.join(rejected)} (not what the index says)"
                   if rejected else "")
        return Choice(chosen, f"{chosen.file}, taken {chosen.time:%Y-%m-%d %H:%M:%S} UTC: the "
                              f"latest of {len(earlier) + 1} baseline(s) of this database "
                              f"({key.describe()}) taken before {reason} "
                              f"({before:%Y-%m-%d %H:%M:%S} UTC); {counted}{skipped}", b)
    if rejected:
        return Choice(None, f"the baselines of this database taken before {reason} in {store} "
                            f"are not what the index says ({', '.join(rejected)}): none used")
    if not same:
        return Choice(None, f"no baseline of this database ({key.describe()}) in {store} "
                            f"({others})")
    return Choice(None, f"no baseline of this database ({key.describe()}) taken before "
                        f"{before:%Y-%m-%d %H:%M:%S} UTC ({reason}) in {store}: "
                        f"{len(same)} of it, all later; {others}")


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
    """The entry's bundle, only when it is what the entry says."""
    b = _verified(store, entry)
    if b is None:
        raise InputError(f"{store / entry.file} is not what the store's index says (database, "
                         "digest or time differ, or it cannot be read); "
                         "`reportgen baselines list` re-reads the store")
    return b
