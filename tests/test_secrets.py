"""The password never appears anywhere: not in an error about a malformed or ambiguous DSN,
not in Appendix A (however it was quoted), not in ps when --dsn-file is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reportgen.connection import mask_dsn

SECRET = "s3cr%t/p@ss"


def rg(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, timeout=60, **kw)


@pytest.mark.parametrize("dsn", [
    f"postgresql://bob:{SECRET}@127.0.0.1:1/db",  # raw '%', '/' and '@'
    "postgresql://bob:s3cr/t@127.0.0.1:1/db",  # '/': libpq would take 'bob:s3cr' as the host
    "postgresql://bob:p@ss@127.0.0.1:1/db",  # '@': libpq would take 'ss@...' as the host
    "postgresql://bob:pa%zzss@127.0.0.1:1/db",  # a bad percent-escape, echoed by libpq
    "host=127.0.0.1 port=1 password='pa ss",  # unterminated quote
])
def test_malformed_dsns_never_echo_the_password(dsn, tmp_path):
    res = rg("collect", "--dsn", dsn, "-o", str(tmp_path / "b.json"), "--connect-timeout", "1")
    assert res.returncode == 3, res.stderr
    for fragment in ("s3cr", "p@ss", "pa%zz", "zzss", "pa ss", "ss@"):
        assert fragment not in res.stderr, (fragment, res.stderr)
    assert len(res.stderr.strip().splitlines()) <= 2 and "Traceback" not in res.stderr


def test_appendix_a_masks_the_whole_quoted_password(db, tmp_path):
    role = f"pw_{db.name}"
    db.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'correct horse-999'")
    try:
        dsn = (f"host=127.0.0.1 port={db.server.port} dbname={db.name} user={role} "
               "password='correct horse-999'")
        res = rg("assess", "--dsn", dsn, "--format", "md", "--out", str(tmp_path / "out"))
        assert res.returncode in (0, 1), res.stderr
        md = (tmp_path / "out" / "report.md").read_text()
        appendix = md.split("## Appendix A: Commands used", 1)[1].split("## Appendix B")[0]
        assert "password=********" in appendix
        for text in (md, res.stderr, (tmp_path / "out" / "evidence.json").read_text()):
            assert "horse" not in text and "correct" not in text.replace("correctly", "")
    finally:
        db.server.psql(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")
        db.server.psql(f"DROP ROLE {role}")


def test_dsn_file_keeps_the_password_off_the_command_line(db, tmp_path):
    secret_file = tmp_path / "dsn"
    secret_file.write_text(db.dsn + "\n")
    res = rg("collect", "--dsn-file", str(secret_file), "-o", str(tmp_path / "b.json"))
    assert res.returncode == 0, res.stderr
    res = rg("collect", "--dsn-file", "-", "-o", str(tmp_path / "c.json"), input=db.dsn)
    assert res.returncode == 0, res.stderr
    res = rg("collect", "--dsn", db.dsn, "--dsn-file", "-", "-o", str(tmp_path / "d.json"))
    assert res.returncode == 2 and "not both" in res.stderr


def test_mask_dsn():
    assert mask_dsn("host=h password='a b c' dbname=x") == "password=******** dbname=x host=h"
    assert "p%40ss" not in mask_dsn("postgresql://u:p%40ss@h/db")
    assert mask_dsn("host=h dbname=x") == "host=h dbname=x"
    assert mask_dsn("password='unterminated") == "********"
