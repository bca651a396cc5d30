"""Fleets: many databases in one run (reportgen fleet assess), one of them broken, one
unreachable, one hostile (its database and table names are markup, quotes and shell), with
the password given by reference (a passfile) and never appearing in any output; and the same
fleet split into shards run as separate processes, as a Kubernetes Indexed Job runs them
(the shard index from JOB_COMPLETION_INDEX), then merged."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import on_one_server

pytestmark = pytest.mark.slow

MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Order", fields=[
            ("id", models.BigAutoField(primary_key=True)),
            ("total", models.IntegerField()),
        ]),
    ]
'''
SCHEMA = """
CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255) NOT NULL,
    name varchar(255) NOT NULL, applied timestamptz NOT NULL);
INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0001_initial', now());
CREATE TABLE shop_order (id bigserial PRIMARY KEY, total integer NOT NULL);
"""
HOSTILE_DB = 'evil"<b>x</b>|$(id)'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fleet(request, server, tmp_path):
    on_one_server(request, server)  # what a fleet does is not a server version's (suite time)
    project = tmp_path / "project"
    (project / "shop" / "migrations").mkdir(parents=True)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "models.py").write_text("")
    (project / "shop" / "migrations" / "__init__.py").write_text("")
    (project / "shop" / "migrations" / "0001_initial.py").write_text(MIGRATION)
    names = ["fleet_good", "fleet_broken", HOSTILE_DB]
    quoted = {n: '"' + n.replace('"', '""') + '"' for n in names}
    for n in names:
        server.psql(f"DROP DATABASE IF EXISTS {quoted[n]} WITH (FORCE)")
        server.psql(f"CREATE DATABASE {quoted[n]}")
        server.psql(SCHEMA, dbname=n)
    server.psql("DROP TABLE shop_order", dbname="fleet_broken")
    server.psql('CREATE TABLE "<img src=x onerror=alert(1)>|`rm -rf /`" (id int)',
                dbname=HOSTILE_DB)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{server.port}:*:{server.superuser}:{server.password}\n")
    passfile.chmod(0o600)
    from psycopg.conninfo import make_conninfo

    lines = ["# the fleet: passwords by reference (PGPASSFILE)"]
    lines += [make_conninfo(host="127.0.0.1", port=server.port, user=server.superuser,
                            dbname=n) for n in names]
    lines.append(make_conninfo(host="127.0.0.1", port=free_port(), user="nobody",
                               dbname="gone"))
    members = tmp_path / "members.txt"
    members.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PGPASSFILE": str(passfile)}
    env.pop("PGPASSWORD", None)
    yield project, members, env, server
    for n in names:
        server.psql(f"DROP DATABASE IF EXISTS {quoted[n]} WITH (FORCE)")


def reportgen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reportgen", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def every_output(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*")
                     if p.is_file())


def test_a_fleet_with_a_broken_an_unreachable_and_a_hostile_member(fleet, tmp_path):
    project, members, env, server = fleet
    out = tmp_path / "out"
    res = reportgen("fleet", "assess", "--members", str(members), "--project", str(project),
                    "--out", str(out), "--fail-on", "HIGH", "--connect-timeout", "3",
                    "--format", "md,pdf", env=env)
    assert res.returncode == 1, res.stderr[-3000:]  # --fail-on HIGH: broken is CRITICAL
    rows = {r["member"]: r for r in csv.DictReader(
        (out / "fleet.csv").read_text("utf-8").splitlines())}
    assert len(rows) == 4
    pos = {r["position"]: r for r in rows.values()}  # in the members file's order
    by_db = {"fleet_good": pos["0"], "fleet_broken": pos["1"], "gone": pos["3"]}
    assert by_db["fleet_good"]["outcome"] == "assessed"
    assert by_db["fleet_good"]["worst"] in ("", "LOW", "MEDIUM"), by_db["fleet_good"]
    assert by_db["fleet_broken"]["worst"] == "CRITICAL"
    assert "TABLES MISSING" in by_db["fleet_broken"]["status"]
    assert by_db["gone"]["outcome"] == "unreachable" and by_db["gone"]["error"]
    hostile = pos["2"]
    assert hostile["member"].endswith("/" + HOSTILE_DB)
    assert hostile["outcome"] == "assessed", hostile
    # Each assessed member has its own bundle, assessment and report, linked from the summary.
    summary = (out / "fleet.md").read_text("utf-8")
    for r in rows.values():
        if r["outcome"] == "assessed":
            folder = out / r["report"]
            assert (folder / "evidence.json").is_file() and (folder / "report.md").is_file()
            assert (folder / "report.pdf").stat().st_size > 10_000
            assert f"({r['report']}/report.md)" in summary
            assert ".." not in r["report"] and "$" not in r["report"]
    # Worst first: the unreachable member (nothing known), then CRITICAL.
    order = [line for line in summary.splitlines() if line.startswith("| ") and "/" in line]
    assert "UNREACHABLE" in order[0] and "CRITICAL" in order[1], order[:2]
    # The hostile names are shown, never markup: no raw tag reaches the summary's table.
    from reportgen.render.html import markdown_to_html_body

    page = markdown_to_html_body(summary)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    a = json.loads((out / hostile["report"] / "assessment.json").read_text("utf-8"))
    assert a["status"]
    # No secret anywhere: not in the outputs, not on the terminal.
    assert server.password not in every_output(out)
    assert server.password not in res.stdout + res.stderr
    assert "worst UNKNOWN" in res.stdout  # a member not assessed: nothing shows it is below
    # Without --fail-on the run succeeds: the verdicts are in the summary.
    again = reportgen("fleet", "assess", "--members", str(members), "--project", str(project),
                      "--out", str(tmp_path / "again"), "--connect-timeout", "3", env=env)
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_password_inline_is_refused_and_never_shown(fleet, tmp_path):
    _, _, env, server = fleet
    inline = tmp_path / "inline.txt"
    inline.write_text(server.dsn("fleet_good") + "\n")  # postgresql://user:PASSWORD@...
    out = tmp_path / "out"
    res = reportgen("fleet", "assess", "--members", str(inline), "--out", str(out), env=env)
    assert res.returncode == 3, res.stderr  # no member could be reached
    assert server.password not in every_output(out) + res.stdout + res.stderr
    row = json.loads((out / "fleet-shard-0-of-1.json").read_text("utf-8"))["rows"][0]
    assert row["outcome"] == "refused" and "by reference" in row["error"]


def test_shards_run_as_an_indexed_job_and_merge_into_the_same_summary(fleet, tmp_path):
    project, members, env, _ = fleet
    whole = tmp_path / "whole"
    reportgen("fleet", "assess", "--members", str(members), "--project", str(project),
              "--out", str(whole), "--connect-timeout", "3", env=env)
    # As the Kubernetes recipe runs them: one process per index, JOB_COMPLETION_INDEX set.
    procs = []
    for index in range(3):
        procs.append(subprocess.Popen(
            ["bash", "-c", f'{sys.executable} -m reportgen fleet assess --members "$M" '
             f'--project "$P" --shard "$JOB_COMPLETION_INDEX/3" --out "$OUT" '
             "--connect-timeout 3"],
            env={**env, "JOB_COMPLETION_INDEX": str(index), "M": str(members),
                 "P": str(project), "OUT": str(tmp_path / f"shard{index}")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode in (0, 1), err[-2000:]
    merged = tmp_path / "merged"
    res = reportgen("fleet", "merge", *(str(tmp_path / f"shard{i}") for i in range(3)),
                    "--out", str(merged), "--format", "md,pdf", env=env)
    assert res.returncode == 0, res.stderr[-2000:]

    def table(path: Path) -> list[tuple[str, ...]]:
        return sorted((r["position"], r["member"], r["outcome"], r["worst"], r["status"])
                      for r in csv.DictReader(path.read_text("utf-8").splitlines()))

    assert table(merged / "fleet.csv") == table(whole / "fleet.csv")
    assert (merged / "fleet.pdf").stat().st_size > 1000
    for r in csv.DictReader((merged / "fleet.csv").read_text("utf-8").splitlines()):
        if r["report"]:
            assert (merged / r["report"] / "report.md").is_file()  # links reach the shards
    # A merge missing a shard says so.
    partial = reportgen("fleet", "merge", str(tmp_path / "shard0"), "--out",
                        str(tmp_path / "partial"), env=env)
    assert "shard(s) missing" in partial.stdout
    assert "shards missing" in (tmp_path / "partial" / "fleet.md").read_text("utf-8")


def test_every_database_of_a_server(fleet, tmp_path):
    _, _, env, server = fleet
    out = tmp_path / "all"
    res = reportgen("fleet", "assess", "--all-databases", "--dsn",
                    f"host=127.0.0.1 port={server.port} user={server.superuser} dbname=postgres",
                    "--out", str(out), "--jobs", "4", env=env)
    assert res.returncode in (0, 3) or "fleet:" in res.stdout, res.stderr[-2000:]
    rows = list(csv.DictReader((out / "fleet.csv").read_text("utf-8").splitlines()))
    shown = {r["member"].split("/", 1)[1]: r for r in rows}
    for name in ("fleet_good", "fleet_broken", HOSTILE_DB, "postgres"):
        assert shown[name]["outcome"] == "assessed", shown.get(name)
    assert "template0" not in shown and "template1" not in shown
    assert server.password not in every_output(out) + res.stdout + res.stderr
