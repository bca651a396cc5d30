"""--redact hides every real host, IP, user, database and application name, wherever it
travels: the bundle, the report's derived sentences, the responder's timeline (and its
archived copy), contacts, type names; the map stays out of every shared folder; secret files
are never readable by others, not even while they are written."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from reportgen.fileio import write_atomic


def test_redaction_covers_timeline_contacts_types_and_applications(db, tmp_path):
    user = f"alice_{db.name}"
    db.execute(f"CREATE ROLE {user} LOGIN; CREATE SCHEMA {user} AUTHORIZATION {user}; "
               f"CREATE TYPE {user}.mood AS ENUM ('ok'); "
               f"CREATE TABLE public.feelings (m {user}.mood)")
    log = tmp_path / "pg.csv"
    log.write_text(f'2026-11-30 10:00:00.000 UTC,"{user}","{db.name}",4242,"127.0.0.1:5000",'
                   '"a.1",1,"idle",2026-11-30 10:00:00 UTC,3/1,0,LOG,00000,'
                   '"statement: DROP TABLE gone_table",,,,,,,,,"payroll-sync@db7.internal"\n')
    timeline = tmp_path / "timeline.csv"
    timeline.write_text("time,event,source\n"
                        f"2026-11-30T09:59:00Z,{user} ran psql on {db.name} at 127.0.0.1,"
                        f"chat with {user}\n")
    shared, archive = tmp_path / "shared", tmp_path / "archive"
    res = subprocess.run(
        [sys.executable, "-m", "reportgen", "assess", "--dsn", db.dsn, "--server-log", str(log),
         "--timeline", str(timeline), "--contact", f"DBA={user} <{user}@example.org>",
         "--format", "md,html,pdf", "--out", str(shared), "--archive", str(archive),
         "--redact", "--redaction-map", str(tmp_path / "map.json")],
        capture_output=True, text=True)
    assert res.returncode in (0, 1), res.stderr
    mapping = json.loads((tmp_path / "map.json").read_text())["pseudonyms"]
    originals = set(mapping.values())
    assert {user, db.name, "127.0.0.1", "payroll-sync@db7.internal"} <= originals
    (folder,) = [p for p in archive.iterdir() if p.is_dir()]
    texts = {p.name: p.read_text("utf-8") for p in
             [*shared.glob("*.md"), *shared.glob("*.json"), *shared.glob("*.html"),
              folder / "timeline.csv", folder / "report.md"]}
    texts["report.pdf"] = "".join(p.extract_text() for p in
                                  PdfReader(str(shared / "report.pdf")).pages)
    for where, text in texts.items():
        for name in originals:  # as a whole token ("postgres" in "postgresql" is not a name)
            found = re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text)
            assert not found, (where, name)
    pseudonym = {v: k for k, v in mapping.items()}[user]
    assert f'"type": "{pseudonym}.mood"' in texts["evidence.json"]  # schema redacted
    assert f"{pseudonym} ran psql on" in texts["timeline.csv"]
    for secret in (tmp_path / "map.json", tmp_path / "map.original-evidence.json"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_the_map_may_not_go_into_the_archive(db, tmp_path):
    archive = tmp_path / "docs" / "incidents"
    res = subprocess.run(
        [sys.executable, "-m", "reportgen", "assess", "--dsn", db.dsn, "--out",
         str(tmp_path / "out"), "--archive", str(archive), "--redact", "--redaction-map",
         str(archive / "map.json")], capture_output=True, text=True)
    assert res.returncode == 2 and "keep the map out" in res.stderr
    assert not archive.exists() or not any(archive.rglob("map.json"))


def test_secret_files_are_private_from_the_first_byte(tmp_path):
    seen: list[int] = []

    def writer(tmp: Path) -> None:
        seen.append(stat.S_IMODE(tmp.stat().st_mode))
        tmp.write_bytes(b"secret")
        seen.append(stat.S_IMODE(tmp.stat().st_mode))

    write_atomic(tmp_path / "s.json", writer, mode=0o600)
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE((tmp_path / "s.json").stat().st_mode) == 0o600


def test_an_earlier_map_and_unredacted_bundle_are_never_overwritten(tmp_path):
    from tests.conftest import FIXTURES

    bundle = FIXTURES / "demo-evidence.json"
    runs = []
    for n in (1, 2):
        out = tmp_path / f"shared{n}"
        res = subprocess.run([sys.executable, "-m", "reportgen", "render", str(bundle),
                              "--format", "md", "--out", str(out), "--redact",
                              "--redaction-map", str(tmp_path / "map.json")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        runs.append(res.stderr)
        # the report cites the digest of a redacted bundle written beside it
        shared = json.loads((out / "evidence.json").read_text())
        assert shared["redacted"] is True and shared["digest"] in (out / "report.md").read_text()
    assert (tmp_path / "map.json").is_file() and (tmp_path / "map-2.json").is_file()
    assert (tmp_path / "map.original-evidence.json").is_file()
    assert (tmp_path / "map-2.original-evidence.json").is_file()
    assert "map-2.json" in runs[1]
