"""The baseline store as a trust boundary: whoever else can write to it plants links, index
entries, forged or future-dated bundles, a compression bomb, or holds its lock; none of it
makes reportgen delete a file outside the store, follow a link, use another database's
bundle as this one's, prune the real baselines, run out of memory, or hang a deploy."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reportgen import baselines
from reportgen.bundle import EvidenceBundle
from reportgen.errors import OutputError

NOBODY = 65534


def _at(b: EvidenceBundle, when: datetime, database: str | None = None) -> EvidenceBundle:
    """The bundle as if taken at ``when`` (of ``database``, when given), sealed anew: exactly
    what anyone able to write the store can make."""
    update: dict[str, object] = {
        "collection": b.collection.model_copy(update={"started_at": when})}
    if database is not None:
        assert b.identity is not None
        update["identity"] = b.identity.model_copy(update={"current_database": database})
    return b.model_copy(update=update).sealed()


def rg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != baselines.ENV_STORE}
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    s = tmp_path / "store"
    s.mkdir(mode=0o755)
    return s


NOW = datetime.now(UTC).replace(microsecond=0)


def test_prune_removes_nothing_an_index_or_a_link_points_outside(store, tmp_path, demo_bundle):
    """index.json naming ../victim, and a folder that is a link to elsewhere holding a file
    named like a baseline: prune deletes neither (before: it unlinked whatever the index
    named, and globbed through the link)."""
    real = [baselines.add(store, _at(demo_bundle, NOW - timedelta(days=d))) for d in (3, 2, 1)]
    victim = tmp_path / "victim.txt"
    victim.write_text("the owner's file")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    lured = outside / "20200101T000000000000Z.json.gz"
    lured.write_bytes(gzip.compress(_at(demo_bundle, NOW - timedelta(days=30)).to_bytes()))
    (store / "linked-0123456789ab").symlink_to(outside, target_is_directory=True)
    index = json.loads((store / baselines.INDEX).read_text())
    forged = dict(index["baselines"][0], file="../victim.txt", taken_at="2000-01-01T00:00:00")
    index["baselines"].append(forged)
    (store / baselines.INDEX).write_text(json.dumps(index))
    removed = baselines.prune(store, keep=1)
    assert victim.read_text() == "the owner's file" and lured.exists()
    assert {e.file for e in removed} == {real[0].file, real[1].file}
    assert [e.file for e in baselines.entries(store)] == [real[2].file]


def test_the_lock_is_never_followed(store, tmp_path, demo_bundle):
    target = tmp_path / "created-through-the-link"
    (store / baselines.LOCK).symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        baselines.add(store, _at(demo_bundle, NOW))
    assert not target.exists()


def test_an_index_entry_pointing_at_another_databases_bundle_is_not_used(store, demo_bundle):
    """The index says a bundle of database 'other' is this database's, earlier than the real
    baseline: --baseline auto's pick reads it, sees another database, and uses the real one."""
    mine = baselines.add(store, _at(demo_bundle, NOW - timedelta(hours=2)))
    theirs = baselines.add(store, _at(demo_bundle, NOW - timedelta(hours=1), "payroll"))
    index = json.loads((store / baselines.INDEX).read_text())
    for e in index["baselines"]:
        if e["file"] == theirs.file:  # claims this database, with the file's own size/time
            e.update(database=mine.database, system_identifier=mine.system_identifier,
                     endpoint=mine.endpoint)
    (store / baselines.INDEX).write_text(json.dumps(index))
    choice = baselines.pick(store, demo_bundle, NOW, "now")
    assert choice.entry is not None and choice.entry.file == mine.file, choice.why
    assert choice.bundle is not None and choice.bundle.digest == mine.digest
    assert theirs.file in choice.why  # said, not silently skipped


def test_future_dated_bundles_never_prune_the_past(store, demo_bundle):
    """Three baselines from the future (a forged clock) and three real ones: prune --keep 2
    keeps the two newest real ones; the future ones are flagged, kept, and never chosen."""
    past = [baselines.add(store, _at(demo_bundle, NOW - timedelta(days=d))) for d in (3, 2, 1)]
    future = [baselines.add(store, _at(demo_bundle, NOW + timedelta(days=d))) for d in (1, 2, 3)]
    removed = baselines.prune(store, keep=2)
    assert [e.file for e in removed] == [past[0].file]
    listed = baselines.entries(store)
    assert {e.file for e in listed} == {past[1].file, past[2].file} | {e.file for e in future}
    assert {e.file for e in listed if e.future} == {e.file for e in future}
    assert baselines.pick(store, demo_bundle, NOW + timedelta(days=10), "x").entry == \
        next(e for e in listed if e.file == past[2].file)
    out = rg("baselines", "list", "--store", str(store)).stdout
    assert out.count("FUTURE-DATED") == 3


@pytest.mark.parametrize("how", ["writable", "owned"])
def test_auto_refuses_a_store_others_can_write_unless_trusted(store, tmp_path, demo_bundle,
                                                              how):
    """A forged baseline (sealed, of this database, showing a table the database never had)
    in a store others can write to, or owned by another user: --baseline auto refuses the
    store (exit 4, one line saying why) unless --trust-store."""
    real = demo_bundle.model_copy(update={"collection": demo_bundle.collection.model_copy(
        update={"started_at": NOW})}).sealed()
    current = tmp_path / "current.json"
    current.write_bytes(real.to_bytes())
    assert real.inventory is not None
    ghost = real.inventory.relations[0].model_copy(update={"name": "payroll_ledger"})
    forged = _at(real.model_copy(update={"inventory": real.inventory.model_copy(update={
        "relations": [*real.inventory.relations, ghost]})}), NOW - timedelta(hours=1))
    entry = baselines.add(store, forged)
    if how == "writable":
        store.chmod(0o777)
    else:
        os.chown(store / entry.file, NOBODY, NOBODY)
    args = ["analyze", str(current), "--baseline", "auto", "--baseline-store", str(store),
            "--incident-start", NOW.isoformat(), "--json"]
    refused = rg(*args)
    assert refused.returncode == 4, refused.stderr
    assert "not yours alone" in refused.stderr and "--trust-store" in refused.stderr
    assert "Traceback" not in refused.stderr
    trusted = rg(*args, "--trust-store")
    assert trusted.returncode in (0, 1), trusted.stderr
    assert "payroll_ledger" in trusted.stdout  # used, as the responder chose


def test_a_compression_bomb_is_refused_with_an_input_error(store, tmp_path, demo_bundle):
    """A 100 MiB run of zeros, gzip-compressed to ~100 kB, named like a baseline: every
    baselines command goes on without it (a warning names it); read directly, exit 4."""
    good = baselines.add(store, _at(demo_bundle, NOW))
    bomb = store / good.file.split("/")[0] / "20200101T000000000000Z.json.gz"
    bomb.write_bytes(gzip.compress(bytes(100 << 20), compresslevel=9))
    listed = rg("baselines", "list", "--store", str(store))
    assert listed.returncode == 0, listed.stderr
    assert good.file in listed.stdout and "compression bomb" in listed.stderr
    direct = rg("analyze", str(bomb))
    assert direct.returncode == 4 and "compression bomb" in direct.stderr, direct.stderr


def test_a_held_lock_is_waited_for_a_bounded_time(store, demo_bundle):
    """Another process (of any user: flock needs only read access) holds the lock: adding
    gives up after its time limit with one clear error, instead of waiting for ever."""
    (store / baselines.LOCK).touch()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(60)"), str(store / baselines.LOCK)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        t0 = time.monotonic()
        with pytest.raises(baselines.StoreBusy, match="locked by another process"):
            baselines.add(store, _at(demo_bundle, NOW), lock_timeout_s=1.0)
        assert time.monotonic() - t0 < 10
    finally:
        holder.kill()
        holder.wait()
