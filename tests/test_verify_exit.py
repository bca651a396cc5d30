"""verify and exit codes under hostile or broken inputs: every case ends in its documented
exit code with one line, never 70 (an internal error) and never a silent pass."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reportgen.archive import MANIFEST, sha256_file
from reportgen.errors import InputError
from tests.conftest import FIXTURES

BUNDLE = FIXTURES / "demo-evidence.json"


def rg(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> Path:
    """One archive of the demo bundle (rendering its PDF takes seconds), copied per test."""
    root = tmp_path_factory.mktemp("archived") / "root"
    res = rg("archive", str(BUNDLE), "--root", str(root), "--title", "t")
    assert res.returncode == 0, res.stderr
    (f,) = [p for p in root.iterdir() if p.is_dir()]
    return f


@pytest.fixture
def folder(archived, tmp_path) -> Path:
    """An intact incident folder of the test's own, to tamper with."""
    f = Path(shutil.copytree(archived, tmp_path / "root" / archived.name, symlinks=True))
    assert rg("verify", str(f)).returncode == 0
    return f


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text())


def _write_manifest(folder: Path, data: object) -> None:
    (folder / MANIFEST).write_text(json.dumps(data))


def test_a_file_added_in_a_sub_folder_is_reported(folder):
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "sub" / "deeper" / "note.txt").write_text("added later")
    (folder / ".hidden").write_text("added later")
    res = rg("verify", str(folder))
    assert res.returncode == 7
    assert "sub/deeper/note.txt: not in the manifest" in res.stdout
    assert ".hidden: not in the manifest" in res.stdout


def test_manifest_entries_outside_the_folder_are_refused(folder, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    m = _manifest(folder)
    m["files"] += [{"path": "../../outside.txt", "bytes": 1, "sha256": sha256_file(outside)},
                   {"path": str(outside), "bytes": 1, "sha256": sha256_file(outside)}]
    os.symlink(outside, folder / "link.txt")
    m["files"].append({"path": "link.txt", "bytes": 1, "sha256": sha256_file(outside)})
    _write_manifest(folder, m)
    res = rg("verify", str(folder))
    assert res.returncode == 7
    assert res.stdout.count("manifest entry outside the incident folder") == 3


@pytest.mark.parametrize("files", ["x", [1], [{"path": "evidence.json"}], None])
def test_a_malformed_manifest_exits_7(folder, files):
    m = _manifest(folder)
    m["files"] = files
    _write_manifest(folder, m)
    res = rg("verify", str(folder))
    assert res.returncode == 7 and "malformed" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_deeply_nested_manifest_or_bundle_is_refused(folder, tmp_path):
    (folder / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    assert rg("verify", str(folder)).returncode == 7
    deep = tmp_path / "deep.json"
    deep.write_text('{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    res = rg("render", str(deep), "--out", str(tmp_path / "o"))
    assert res.returncode == 4 and "nested too deeply" in res.stderr, res.stderr


def test_a_pdf_stripped_of_its_embedded_bundle_fails(folder, tmp_path):
    assert _manifest(folder)["embedded_bundle"] is True
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(str(folder / "report.pdf")).pages:
        writer.add_page(page)
    with (folder / "report.pdf").open("wb") as fh:
        writer.write(fh)
    m = _manifest(folder)  # the attacker rewrites the manifest's hash too
    for f in m["files"]:
        if f["path"] == "report.pdf":
            f["sha256"], f["bytes"] = sha256_file(folder / "report.pdf"), \
                (folder / "report.pdf").stat().st_size
    _write_manifest(folder, m)
    res = rg("verify", str(folder))
    assert res.returncode == 7 and "records an embedded evidence bundle" in res.stdout


def test_unusable_output_paths_exit_6(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = rg("render", str(BUNDLE), "--format", "md", "--out", str(blocker / "out"))
    assert res.returncode == 6 and "cannot write" in res.stderr, res.stderr
    res = rg("archive", str(BUNDLE), "--root", str(blocker / "root"))
    assert res.returncode == 6 and "cannot archive" in res.stderr, res.stderr


def test_a_dangling_symlink_at_the_folder_name_is_stepped_over(archived, tmp_path):
    """The incident's name is taken by a dangling symlink: the archive becomes -r2, which
    its manifest names (verify checks it), and the symlink is left alone."""
    root = tmp_path / "root"
    root.mkdir()
    first = root / archived.name
    os.symlink(tmp_path / "nowhere", first)
    res = rg("archive", str(BUNDLE), "--root", str(root), "--title", "t")
    assert res.returncode == 0, res.stderr
    revision = root / (first.name + "-r2")
    assert json.loads((revision / MANIFEST).read_text())["incident"] == revision.name
    assert rg("verify", str(revision)).returncode == 0
    assert first.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_huge_attachment_is_an_input_error(folder, monkeypatch):
    import reportgen.extract as extract

    monkeypatch.setattr(extract, "MAX_EMBEDDED", 1000)
    with pytest.raises(InputError, match="more than any evidence bundle"):
        extract.embedded_bundle_bytes(folder / "report.pdf")


def test_sigterm_while_rendering_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "reportgen", "render", str(BUNDLE), "--format",
                             "md,html,pdf", "--out", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(".report.pdf.*.tmp")):
        time.sleep(0.005)
    assert list(out.glob(".report.pdf.*.tmp")), "rendering never reached the PDF"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert not (out / "report.pdf").exists()


def test_strict_exits_5_when_django_migrations_cannot_be_read(db, tmp_path):
    reader = f"reader_{db.name}"
    db.execute(f"CREATE TABLE django_migrations (id serial, app text, name text, applied "
               f"timestamptz); CREATE ROLE {reader} LOGIN PASSWORD 'pw'")
    try:
        res = rg("collect", "--dsn", db.server.dsn(db.name, user=reader, password="pw"),
                 "-o", str(tmp_path / "b.json"), "--strict")
        assert res.returncode == 5, res.stderr
        assert "django_migrations not read" in res.stderr
    finally:
        db.server.psql(f"DROP DATABASE {db.name} WITH (FORCE)")
        db.server.psql(f"DROP ROLE {reader}")


def test_signed_manifest_proves_who_archived(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    keys = {}
    for who in ("responder", "someone"):
        key = tmp_path / who
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f",
                        str(key)], check=True)
        keys[who] = key
        (tmp_path / f"{who}.allowed").write_text(
            f"{who}@example.org {(tmp_path / (who + '.pub')).read_text()}")
    root = tmp_path / "root"
    res = rg("archive", str(BUNDLE), "--root", str(root), "--sign-key", str(keys["responder"]))
    assert res.returncode == 0, res.stderr
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    ok = rg("verify", str(folder), "--allowed-signers", str(tmp_path / "responder.allowed"))
    assert ok.returncode == 0 and "and its signature" in ok.stdout, ok.stdout + ok.stderr
    other = rg("verify", str(folder), "--allowed-signers", str(tmp_path / "someone.allowed"))
    assert other.returncode == 7 and "not made by any key" in other.stdout
    m = _manifest(folder)
    m["status"] = "ALL FINE"  # rewritten after signing
    (folder / MANIFEST).write_text(json.dumps(m, indent=2))
    bad = rg("verify", str(folder), "--allowed-signers", str(tmp_path / "responder.allowed"))
    assert bad.returncode == 7 and "does not verify" in bad.stdout


def test_a_device_is_never_replaced_by_an_output(tmp_path):
    """`-o /dev/null` must not turn /dev/null into a regular file: refused, exit 6."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = rg("collect", "--dsn", "host=127.0.0.1 port=1", "-o", str(fifo))
    assert res.returncode in (3, 6) and fifo.is_fifo()
    from reportgen.errors import OutputError
    from reportgen.fileio import write_atomic

    with pytest.raises(OutputError, match="not a regular file"):
        write_atomic(fifo, b"x")
    assert fifo.is_fifo()


def test_a_copy_under_another_name_is_not_the_incident(archived, tmp_path):
    """The manifest names its incident: a copy renamed (to pass for another incident, or
    by mistake) fails verification, saying so."""
    copy = Path(shutil.copytree(archived, tmp_path / "2026-01-01-another-incident",
                                symlinks=True))
    res = rg("verify", str(copy))
    assert res.returncode == 7, res.stdout + res.stderr
    assert "a copy under another name" in res.stdout + res.stderr


def test_a_compression_bomb_attachment_is_an_input_error(tmp_path):
    """A PDF whose evidence.json is 400 MiB of zeros deflated to 400 kB: `extract` stops
    within pypdf's decompression limit and says so, exit 4 (before: internal error, 70)."""
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    w = PdfWriter()
    w.add_blank_page(100, 100)
    w.add_attachment("evidence.json", b"x")
    for obj in w._objects:
        if isinstance(obj, StreamObject) and obj.get("/Type") == "/EmbeddedFile":
            obj._data = zlib.compress(bytes(400 << 20), 9)
            obj[NameObject("/Filter")] = NameObject("/FlateDecode")
    w.write(tmp_path / "bomb.pdf")
    res = rg("extract", str(tmp_path / "bomb.pdf"))
    assert res.returncode == 4, res.stderr
    assert "compression bomb" in res.stderr and "internal error" not in res.stderr
