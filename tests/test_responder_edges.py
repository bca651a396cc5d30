"""Where the responder's hands meet the output: no silent edges, errors that say what to do.

One named test per edge found by trying reportgen as a new user would (issue 25): each ran
silently or said too little before.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from reportgen import errors
from reportgen.cli import cli
from tests.conftest import FIXTURES
from tests.helpers import variant

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = FIXTURES / "demo-evidence.json"


def reportgen(*args: str, env: dict[str, str] | None = None, **kw: Any
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, env=env, timeout=120, **kw)


def test_no_verify_on_a_changed_bundle_warns_and_the_report_says_digest_not_verified(tmp_path):
    data = json.loads(BUNDLE.read_text())
    data["identity"]["current_user"] = "someone_else"  # changed after collection
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    res = reportgen("render", str(changed), "--no-verify", "--format", "md", "--out",
                    str(tmp_path / "out"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "digest not verified" in res.stderr and "does NOT match" in res.stderr
    header = (tmp_path / "out" / "report.md").read_text().split("## 1.")[0]
    line = next(ln for ln in header.splitlines() if "Evidence bundle" in ln)
    assert "digest not verified" in line and data["digest"] in line
    # The bundle as collected: nothing to warn about.
    res = reportgen("render", str(BUNDLE), "--no-verify", "--format", "md", "--out",
                    str(tmp_path / "same"), "--quiet")
    assert res.returncode == 0 and "digest" not in res.stderr
    assert "not verified" not in (tmp_path / "same" / "report.md").read_text()


def test_diff_of_two_databases_warns_and_says_so_in_json(tmp_path, demo_bundle_data):
    other = tmp_path / "other.json"
    other.write_bytes(variant(demo_bundle_data, lambda d: d["identity"].update(
        system_identifier="7000000000000000001")).to_bytes())
    res = reportgen("diff", str(BUNDLE), str(other))
    assert "different clusters" in res.stderr and "7000000000000000001" in res.stderr
    res = reportgen("diff", str(BUNDLE), str(other), "--json")
    payload = json.loads(res.stdout)
    assert payload["same_database"] is False and "different clusters" in \
        payload["database_mismatch"]
    renamed = tmp_path / "renamed.json"
    renamed.write_bytes(variant(demo_bundle_data, lambda d: d["identity"].update(
        current_database="another_db")).to_bytes())
    assert "different databases" in reportgen("diff", str(BUNDLE), str(renamed)).stderr
    same = json.loads(reportgen("diff", str(BUNDLE), str(BUNDLE), "--json").stdout)
    assert same["same_database"] is True and same["database_mismatch"] is None


def test_every_help_default_is_the_value_the_command_uses(monkeypatch):
    """What --help shows as a default is what the command runs with, for every option of
    every command; checked end to end where a command once overrode its own default
    (snapshot's count budget)."""
    from reportgen.cli import collecting

    for name, command in cli.commands.items():
        ctx = click.Context(command, info_name=name)
        for p in command.params:
            record = p.get_help_record(ctx)  # the line --help prints for the option
            if record is None or not getattr(p, "show_default", False) or p.default is None \
                    or getattr(p, "is_flag", False):
                continue
            shown = re.search(r"\[default: ([^;\]]+)", record[1])
            assert shown, (name, record)
            assert shown[1].strip() == str(p.default), (name, record, p.default)
    seen: dict[str, Any] = {}

    def capture(o: Any) -> Any:
        seen.update(vars(o))
        raise SystemExit(0)

    monkeypatch.setattr(collecting, "collect_evidence", capture)
    help_text = CliRunner().invoke(cli, ["snapshot", "--help"], terminal_width=400).output
    shown = re.search(r"--count-budget-s[^\n]*\[default: ([\d.]+)", help_text)
    CliRunner().invoke(cli, ["snapshot", "--dsn", "host=x", "--store", "s"])
    assert seen["count_budget_s"] == float(shown[1]) == 10.0
    # No command re-decides a default behind --help's back.
    sources = "".join(p.read_text() for p in (ROOT / "reportgen" / "cli").glob("*.py"))
    assert "get_parameter_source" not in sources


@pytest.mark.parametrize(("dsn", "named"), [
    ("host=127.0.0.1 passwrd=s3cret-value", 'invalid connection option "passwrd": did you '
                                            'mean "password"?'),
    ("postgresql://u@127.0.0.1/db?sslmod=require", '"sslmod": did you mean "sslmode"?'),
])
def test_a_misspelt_dsn_option_is_named_and_a_value_never_is(dsn, named):
    res = reportgen("collect", "--dsn", dsn, "-o", os.devnull)
    assert res.returncode == errors.EXIT_CONNECTION
    assert named in res.stderr and "s3cret" not in res.stderr
    # A word that resembles no option may be part of a password typed with a space.
    res = reportgen("collect", "--dsn", "host=127.0.0.1 password=ab cdxq=1", "-o", os.devnull)
    assert res.returncode == errors.EXIT_CONNECTION
    assert "cdxq" not in res.stderr and "fragment not shown" in res.stderr


def test_no_connection_given_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k != "DATABASE_URL"}
    env["PGHOST_UNUSED"] = "1"  # not one of libpq's: still nothing given
    env["HOME"] = str(tmp_path)  # no ~/.pg_service.conf or ~/.pgpass of the machine's
    res = reportgen("collect", "-o", str(tmp_path / "b.json"), env=env)
    assert res.returncode == errors.EXIT_CONNECTION
    assert "no connection given (--dsn, --dsn-file, DATABASE_URL or PG* variables)" in \
        res.stderr
    env["PGPORT"] = "1"  # something was given: the error is about it alone
    res = reportgen("collect", "-o", str(tmp_path / "b.json"), env=env)
    assert res.returncode == errors.EXIT_CONNECTION and "no connection given" not in res.stderr


def test_every_exit_code_is_in_the_readme_table():
    table = (ROOT / "README.md").read_text().split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(c) for row in re.findall(r"^\| ([\d /]+) \|", table, re.M)
                  for c in row.split("/")}
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")} | {130, 143}
    assert codes <= documented, codes - documented
    row3 = next(r for r in table.splitlines() if r.startswith("| 3 |"))
    assert "not valid libpq syntax" in row3 and "no connection given" in row3
    epilog = CliRunner().invoke(cli, ["--help"], terminal_width=400).output
    assert all(str(c) in epilog for c in codes)


def test_third_party_warnings_never_reach_the_terminal(tmp_path):
    not_a_pdf = tmp_path / "report.md"
    not_a_pdf.write_text("# a report, not a PDF\n")
    res = reportgen("extract", str(not_a_pdf))
    assert res.returncode == errors.EXIT_INPUT
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("reportgen: error:"), res.stderr


def test_a_closed_pipe_exits_quietly_with_the_sigpipe_status():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (`| head`)
    try:
        res = subprocess.run([sys.executable, "-m", "reportgen", "analyze", str(BUNDLE)],
                             stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert res.returncode == errors.EXIT_CLOSED_PIPE == 141 and res.stderr == ""
