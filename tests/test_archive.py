"""Archive, verify, extract, PDF as an attachment, redaction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportgen.analyze import analyze
from reportgen.archive import MANIFEST, archive_incident, verify_incident
from reportgen.bundle import load_bundle
from reportgen.extract import extract_bundle
from reportgen.render.view import RenderOptions
from reportgen.timeline_file import load_timeline
from tests.conftest import FIXTURES

BUNDLE = FIXTURES / "demo-evidence.json"
TIMELINE = FIXTURES / "demo-timeline.csv"
OPTS = RenderOptions(title="Lost migration records", tz="UTC+6")


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("incidents")
    b = load_bundle(BUNDLE)
    a = analyze(b, timeline=load_timeline(TIMELINE))
    return archive_incident(b, a, OPTS, root, timeline=TIMELINE)


def test_archive_layout_manifest_and_index(archived):
    assert archived.name == "2026-02-01-lost-migration-records"
    names = {p.relative_to(archived).as_posix() for p in archived.rglob("*") if p.is_file()}
    fixes = {n for n in names if n.startswith("fix/")}
    assert fixes >= {"fix/option-1.py", "fix/option-1.sql"}
    assert names - fixes == {"evidence.json", "assessment.json", "report.md", "report.html",
                             "report.pdf", "timeline.csv", "inventory.csv", "inventory.json",
                             MANIFEST}
    m = json.loads((archived / MANIFEST).read_text())
    assert {f["path"] for f in m["files"]} == names - {MANIFEST}
    assert m["tool_version"] and m["collection"]["started_at"] and m["bundle_digest"]
    index = (archived.parent / "README.md").read_text()
    assert "[2026-02-01-lost-migration-records]" in index and "HIGH" in index
    assert verify_incident(archived) == []


@pytest.mark.parametrize("name", ["evidence.json", "assessment.json", "report.md",
                                  "report.html", "report.pdf", "timeline.csv"])
def test_any_changed_byte_fails_verification_naming_the_file(archived, tmp_path, name):
    import shutil

    copy = tmp_path / archived.name
    shutil.copytree(archived, copy)
    target = copy / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    problems = verify_incident(copy)
    assert problems and all(name in p for p in problems[:1]), problems
    res = subprocess.run([sys.executable, "-m", "reportgen", "verify", str(copy)],
                         capture_output=True, text=True)
    assert res.returncode == 7 and name in res.stderr and "Traceback" not in res.stderr


def test_added_or_removed_files_fail_verification(archived, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(archived, copy)
    (copy / "notes.txt").write_text("added later")
    (copy / "timeline.csv").unlink()
    problems = "\n".join(verify_incident(copy))
    assert "notes.txt: not in the manifest" in problems and "timeline.csv: missing" in problems


def test_pdf_carries_the_bundle_byte_for_byte(archived):
    raw, bundle = extract_bundle(archived / "report.pdf")
    assert raw == (archived / "evidence.json").read_bytes() == BUNDLE.read_bytes()
    assert bundle.digest == load_bundle(BUNDLE).digest
    res = subprocess.run([sys.executable, "-m", "reportgen", "extract",
                          str(archived / "report.pdf")], capture_output=True)
    assert res.returncode == 0 and res.stdout == BUNDLE.read_bytes()


def test_every_attachment_is_the_file_beside_it_with_its_size_and_checksum(archived):
    """The attachments' streams are compressed by reportgen (in a thread, during layout) and
    put in place of WeasyPrint's: each must still decompress to the file written beside the
    report, under the Size and MD5 CheckSum the PDF standard puts on an embedded file."""
    import hashlib

    names = PdfReader(str(archived / "report.pdf")).trailer["/Root"]["/Names"][
        "/EmbeddedFiles"]["/Names"]
    seen = {}
    for name, spec in zip(names[::2], names[1::2], strict=True):
        stream = spec.get_object()["/EF"]["/F"].get_object()
        data = stream.get_data()
        assert stream["/Filter"] == "/FlateDecode"
        params = stream["/Params"]
        assert params["/Size"] == len(data)
        assert params["/CheckSum"].original_bytes == hashlib.md5(data).digest()
        seen[str(name)] = data
    fixes = [p.relative_to(archived).as_posix() for p in (archived / "fix").iterdir()]
    assert seen == {n: (archived / n).read_bytes()
                    for n in ("evidence.json", "inventory.csv", "inventory.json", *fixes)}


def test_pdf_metadata_outline_and_running_header(archived):
    reader = PdfReader(str(archived / "report.pdf"))
    meta = reader.metadata
    assert meta.title == OPTS.title and meta.author.startswith("reportgen")
    assert "MIGRATION RECORDS MISSING" in meta.subject and "migration:HIGH" in meta.keywords
    b = load_bundle(BUNDLE)
    assert meta.creation_date.replace(tzinfo=None) == b.collection.finished_at.replace(
        tzinfo=None, microsecond=0)
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert "1. Executive summary" in titles and "10. Recovery options" in titles
    page3 = reader.pages[2].extract_text()
    assert "Lost migration records" in page3 and "MIGRATION RECORDS MISSING" in page3
    assert f"Page 3 of {len(reader.pages)}" in page3
    first = reader.pages[0].extract_text()
    for word in ("Status", "Risk", "Data loss", "Next step", "Re-record the verified"):
        assert word in first


def test_pdf_a_variant(tmp_path):
    res = subprocess.run([sys.executable, "-m", "reportgen", "render", str(BUNDLE), "--format",
                          "pdf", "--pdf-variant", "pdf/a-3b", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    reader = PdfReader(str(tmp_path / "report.pdf"))
    xmp = reader.xmp_metadata
    assert xmp is not None and xmp.get_element("", "http://www.aiim.org/pdfa/ns/id/", "part")
    assert "evidence.json" in reader.attachments


def test_second_archive_never_loses_the_first(archived):
    root = archived.parent
    before = (archived / MANIFEST).read_bytes()
    b = load_bundle(BUNDLE)
    second = archive_incident(b, analyze(b, timeline=load_timeline(TIMELINE)), OPTS, root,
                              timeline=TIMELINE)
    assert second.name == "2026-02-01-lost-migration-records-r2"
    assert (archived / MANIFEST).read_bytes() == before and verify_incident(archived) == []
    assert "-r2" in (root / "README.md").read_text()


def test_killing_the_process_mid_archive_leaves_no_partial_folder(tmp_path):
    root = tmp_path / "incidents"
    cmd = [sys.executable, "-m", "reportgen", "archive", str(BUNDLE), "--timeline", str(TIMELINE),
           "--title", "Killed midway", "--root", str(root)]
    kills = 0
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0, 2.5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        for folder in (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
                if root.exists() else []:
            assert verify_incident(folder) == [], folder  # complete, or absent
    assert kills >= 2  # some runs were really cut off
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert folders and all(verify_incident(f) == [] for f in folders)
    assert not [p for p in root.iterdir() if p.name.startswith(".reportgen-tmp-")]


def test_redacted_outputs_hold_no_original_names(tmp_path):
    originals = ["ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech",
                 "ep-lively-queen-a13dp7w6", "127.0.0.1", "neondb_owner", "deltacrown"]
    out = tmp_path / "shared"
    res = subprocess.run([sys.executable, "-m", "reportgen", "render", str(BUNDLE), "--timeline",
                          str(TIMELINE), "--format", "md,html,pdf", "--out", str(out),
                          "--redact", "--redaction-map", str(tmp_path / "map.json"),
                          "--title", "deltacrown on ep-lively-queen-a13dp7w6"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    pdf_text = "".join(p.extract_text() for p in PdfReader(str(out / "report.pdf")).pages)
    raw, shared_bundle = extract_bundle(out / "report.pdf")
    texts = {"report.md": (out / "report.md").read_text(),
             "report.html": (out / "report.html").read_text(), "report.pdf": pdf_text,
             "embedded evidence": raw.decode()}
    for where, text in texts.items():
        for name in originals:
            assert name not in text, (where, name)
    assert shared_bundle.redacted and shared_bundle.identity.current_database == "db-1"
    mapping = json.loads((tmp_path / "map.json").read_text())["pseudonyms"]
    assert mapping["db-1"] == "deltacrown" and mapping["ip-1"] == "127.0.0.1"
    md = texts["report.md"]
    assert "db-1" in md and "user-1" in md and "host-1" in md
    # stable: one pseudonym per original, whatever the place it appears in
    assert len(set(mapping.values())) == len(mapping)
    assert (tmp_path / "map.json").stat().st_mode & 0o077 == 0
    res = subprocess.run([sys.executable, "-m", "reportgen", "render", str(BUNDLE), "--out",
                          str(out), "--redact", "--redaction-map", str(out / "m.json")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "keep the map out" in res.stderr
