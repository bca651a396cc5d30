"""`reportgen demo --keep`: the demo's fix tried by hand, as a new user would, with the three
commands the demo prints, and Django's own `migrate --plan` agreeing with the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import parse_showmigrations

pytestmark = pytest.mark.slow


def test_demo_keep_leaves_a_project_where_the_printed_commands_run_the_fix(tmp_path):
    out = tmp_path / "demo-output"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, "-m", "reportgen", "demo", "--keep", "--out",
                          str(out)], capture_output=True, text=True, env=env, timeout=600)
    try:
        assert res.returncode == 0, res.stderr
        conn = out / "demo-project" / "connection.json"
        assert conn.stat().st_mode & 0o777 == 0o600
        password = __import__("json").loads(conn.read_text())["password"]
        assert password not in res.stdout + res.stderr
        lines = res.stdout.splitlines()
        at = lines.index(next(x for x in lines if x.startswith("the server is still running")))
        commands = [x.strip() for x in lines[at + 1:at + 5]]
        python = sys.executable  # the interpreter reportgen runs in: it has Django
        assert commands[0].startswith("cd ") and commands[1].startswith(
            f"{python} manage.py shell < ../fix/")
        assert commands[2:] == [f"{python} manage.py showmigrations",
                                f"{python} manage.py migrate --plan"]
        env = {k: v for k, v in env.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"}
        assert lines[at + 5] == f"stop the server: {python} -m reportgen demo --stop --out {out}"
        _rehearsals(out, res.stdout, password)
        # Before the fix Django refuses to plan at all, as the report says.
        run = [subprocess.run(["bash", "-c", f"{commands[0]} && {c}"], capture_output=True,
                              text=True, env=env, timeout=300) for c in commands[3:]]
        assert run[0].returncode != 0 and "InconsistentMigrationHistory" in run[0].stderr
        fix, shown, plan = (subprocess.run(["bash", "-c", f"{commands[0]} && {c}"],
                                           capture_output=True, text=True, env=env,
                                           timeout=300) for c in commands[1:])
        assert fix.returncode == 0 and "recorded 17 migration record(s)" in fix.stdout
        assert shown.returncode == 0 and plan.returncode == 0, plan.stderr
        md = (out / "report.md").read_text()
        predicted = re.search(r"`migrate --plan` lists: ([\w., ]+?)(?: \(|\.$)", md, re.M)
        assert predicted is not None
        planned = [x.strip() for x in plan.stdout.splitlines() if re.fullmatch(r"\w+\.\d{4}\w*",
                                                                                 x.strip())]
        assert planned == predicted[1].split(", ")
        unapplied = [f"{a}.{n}" for (a, n), done in
                     parse_showmigrations(shown.stdout).items() if not done]
        assert unapplied == planned
        # The dangling reference's file, run from the project as its header says: it shows
        # the line of the migration that points at the missing model.
        where = next(p for p in sorted((out / "fix").glob("option-*.sh"))
                     if "grep " in p.read_text())
        found = subprocess.run(["bash", "-c", f"{commands[0]} && bash ../fix/{where.name}"],
                               capture_output=True, text=True, env=env, timeout=60)
        assert found.returncode == 0 and "organizations.Team" in found.stdout
    finally:
        stop = subprocess.run([sys.executable, "-m", "reportgen", "demo", "--stop", "--out",
                               str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert not (out / "demo-server").exists()
    assert not (out / "demo-project" / "connection.json").exists()
    again = subprocess.run([sys.executable, "-m", "reportgen", "demo", "--stop", "--out",
                            str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 4 and "nothing to stop" in again.stderr


def _rehearsals(out: Path, stdout: str, password: str) -> None:
    """The demo rehearsed its recommended fix (the dangling-reference incident: Django plans
    the migration that points at the missing model, as predicted). The same file edited (the
    last record left out) and rehearsed again with `reportgen rehearse` is withdrawn, Django's
    plan named; the kept database is only read. The file is put back afterwards."""
    from tests.helpers import database_checksum, rehearse

    line = next(x for x in stdout.splitlines() if x.startswith("rehearsal of "))
    assert ": confirmed — after the fix Django's migrate --plan lists " \
           "competition.0001_add_competition_models" in line, line
    assert password not in (out / "rehearsal.json").read_text("utf-8")
    conn = json.loads((out / "demo-project" / "connection.json").read_text())
    dsn = (f"host={conn['host']} port={conn['port']} dbname={conn['dbname']} "
           f"user={conn['user']} password={conn['password']}")
    before = database_checksum(dsn)
    fix = out / "fix" / "option-1.py"
    text = fix.read_text("utf-8")
    last = [ln for ln in text.splitlines(keepends=True) if ln.startswith('("teams", ')][-1]
    fix.write_text(text.replace(last, ""), "utf-8")
    project = out / "demo-project"
    res = rehearse(out, dsn, project, "--django-settings", "demo_settings", cwd=project)
    fix.write_text(text, "utf-8")
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    r = next(o for o in json.loads((out / "assessment.json").read_text("utf-8"))[
        "recovery_options"] if o["id"] == "refake_verified")["rehearsal"]
    name = last.split('"')[3]
    assert r["outcome"] == "differed" and f"teams.{name}" in r["why"], r["why"]
    assert "WITHDRAWN after a rehearsal" in (out / "report.md").read_text("utf-8")
    assert database_checksum(dsn) == before
