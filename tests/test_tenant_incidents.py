"""The tenant matrix on a real django-tenants database (django-tenants, taggit and knox from
PyPI; every schema migrated by migrate_schemas): one schema per named case, one assessment,
and each printed per-tenant fix run on a copy of the database, judged by django-tenants'
own ``migrate_schemas --schema=S --check``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reportgen.quoting import shell_command
from reportgen.render.html import markdown_to_html_body
from tests.helpers import database_checksum, nothing_above_low, rehearse
from tests.tenant_site import TenantSite

pytestmark = [pytest.mark.slow, pytest.mark.matrix]

EVIL = "evil'$(touch pwned)<b>x</b>"
TENANTS = ["t_clean", "t_clean2", "t_half", "t_column", "t_records", "t_tracker", "t_orphan",
           "t_gone", "t_wiped"]


def assess(site: TenantSite, out: Path, dbname: str | None = None, *extra: str
           ) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, "-m", "reportgen", "assess", "--dsn",
         site.server.dsn(dbname or site.dbname), "--project", str(site.root),
         "--django-settings", "tenantsite.test_settings", "--out", str(out), "--format", "md",
         *extra],
        capture_output=True, text=True, timeout=600, cwd=site.root, env=site.env(dbname))
    assert res.returncode in (0, 1), res.stderr[-3000:]
    return json.loads((out / "assessment.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    s = TenantSite(server, tmp_path_factory.mktemp("tenants"), "tenant_incidents")
    s.drop()
    s.build(TENANTS, partial={"t_half": ("taggit", "0003_taggeditem_add_unique_index")})
    yield s
    s.drop()


def test_a_clean_tenant_database_has_nothing_above_low(site, tmp_path):
    clean = site.copy("tenant_clean")
    try:
        for t in TENANTS:
            if t != "t_half":
                assert site.plans_nothing(t, clean)
        site.manage("migrate_schemas", "--schema=t_half", dbname=clean)
        a = assess(site, tmp_path, clean)
        rows = {r["schema_name"]: r for r in a["tenants"]["rows"]}
        assert set(rows) == set(TENANTS)
        assert all(r["verdict"] == "ok" for r in rows.values()), rows
        assert nothing_above_low(a), [f["id"] for f in a["findings"] if f["severity"] != "LOW"]
        assert "TABLES INTACT" in a["status"] or "TABLES NOT DETERMINED" not in a["status"], \
            a["status"]
        assert a["data_loss"] != "suspected"
    finally:
        site.server.psql("DROP DATABASE IF EXISTS tenant_clean WITH (FORCE)")


def test_each_named_tenant_case_gets_its_verdict_and_its_fix_works(site, tmp_path):
    db = site.db
    before = tmp_path / "baseline.json"  # the baseline a deploy hook would have taken
    res = subprocess.run([sys.executable, "-m", "reportgen", "collect", "--dsn",
                          site.server.dsn(site.dbname), "--project", str(site.root),
                          "--django-settings", "tenantsite.test_settings", "-o", str(before)],
                         capture_output=True, text=True, cwd=site.root, env=site.env(),
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    db.execute("ALTER TABLE t_column.taggit_tag DROP COLUMN slug")
    # Records and table both gone: without a baseline, behind or lost cannot be told apart.
    db.execute("DELETE FROM t_wiped.django_migrations WHERE app = 'knox'")
    db.execute("DROP TABLE t_wiped.knox_authtoken")
    db.execute("DELETE FROM t_records.django_migrations WHERE app = 'knox'")
    db.execute("DROP TABLE t_tracker.django_migrations")
    db.execute("DELETE FROM public.customers_client WHERE schema_name = 't_orphan'")
    db.execute("DROP SCHEMA t_gone CASCADE")
    # A schema the database owner made, named to break a shell line or the report's markup.
    db.execute(f'CREATE SCHEMA "{EVIL}"; CREATE TABLE "{EVIL}".django_migrations '
               "(id serial PRIMARY KEY, app varchar(255), name varchar(255), "
               "applied timestamptz)")
    a = assess(site, tmp_path)
    rows = {r["schema_name"]: r for r in a["tenants"]["rows"]}
    want = {"t_clean": "ok", "t_clean2": "ok", "t_half": "behind",
            "t_column": "schema_missing", "t_records": "records_missing",
            "t_tracker": "tracker_missing", "t_orphan": "not_a_tenant",
            "t_gone": "schema_absent", EVIL: "not_a_tenant", "t_wiped": "behind_or_lost"}
    assert {s: r["verdict"] for s, r in rows.items()} == want, {
        s: (r["verdict"], r["detail"]) for s, r in rows.items()}
    assert rows["t_half"]["stopped_at"] == "taggit.0003_taggeditem_add_unique_index"
    assert any("slug" in m for m in rows["t_column"]["missing"])
    assert a["data_loss"] == "suspected"
    ids = {f["id"] for f in a["findings"]}
    assert {"tenant.schema_missing", "tenant.schema_absent", "tenant.records_missing",
            "tenant.tracker_missing", "tenant.behind", "tenant.not_a_tenant"} <= ids
    # public's records list taggit and knox, whose tables live only in the tenants: never
    # called missing.
    assert "data.tables_missing" not in ids and "schema.recorded_but_missing" not in ids
    # With the baseline, t_wiped's knox records existed: applied, then lost with its table.
    b = assess(site, tmp_path / "with-baseline", None, "--baseline", str(before))
    wiped = {r["schema_name"]: r for r in b["tenants"]["rows"]}["t_wiped"]
    assert wiped["verdict"] == "schema_missing", wiped
    assert any("knox_authtoken" in m for m in wiped["missing"])
    report = (tmp_path / "report.md").read_text("utf-8")
    assert "Tenant matrix" in report and "t_records" in report
    assert shell_command(EVIL) in rows[EVIL]["fix"][0]  # one shell word, as printed
    page = markdown_to_html_body(report)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page

    # The recommended file repairs every tenant it names, run as the report says (bash,
    # from the application's folder), on a copy.
    option = next(o for o in a["recovery_options"] if o["id"] == "tenant_repair")
    assert set(option["subjects"]) == {"t_half", "t_records", "t_tracker"}
    copy = site.copy("fix_all")
    try:
        res = site.shell(f"bash {tmp_path / option['files'][0]['name']}", copy)
        assert res.returncode == 0, res.stderr[-2000:]
        for schema in option["subjects"]:
            assert site.unapplied(schema, copy) == set(rows[schema]["undecided"]), schema
    finally:
        site.server.psql("DROP DATABASE IF EXISTS fix_all WITH (FORCE)")
    _rehearsed(site, tmp_path, a, option, rows)

    for schema in ("t_half", "t_records", "t_tracker"):
        copy = site.copy(f"fix_{schema}")
        try:
            assert not site.plans_nothing(schema, copy) or schema == "t_tracker"
            row = rows[schema]
            for command in row["fix"]:
                res = site.shell(command, copy)
                assert res.returncode == 0, (command, res.stderr[-2000:])
            # What the fix leaves is exactly what the row leaves for a decision.
            assert site.unapplied(schema, copy) == set(row["undecided"]), schema
            if row["undecided"]:
                # The responder decides they ran (they did: this database was migrated by
                # migrate_schemas before the records went) and runs the printed command.
                res = site.shell(row["decide"][1], copy)
                assert res.returncode == 0, res.stderr[-2000:]
            assert site.plans_nothing(schema, copy), schema
            after = assess(site, tmp_path / f"after_{schema}", copy)
            fixed = {r["schema_name"]: r for r in after["tenants"]["rows"]}[schema]
            assert fixed["verdict"] == "ok", fixed
        finally:
            site.server.psql(f"DROP DATABASE IF EXISTS fix_{schema} WITH (FORCE)")


def _rehearsed(site: TenantSite, report: Path, a: dict[str, Any], option: dict[str, Any],
               rows: dict[str, dict[str, Any]]) -> None:
    """`reportgen rehearse` runs the same file on a scratch copy (every schema's
    django_migrations and the tenant table copied, the hostile schema's among them) and
    Django's showmigrations on each repaired tenant (django-tenants' tenant_command) lists
    exactly what the report left for a decision; the file edited (t_records' block removed)
    is withdrawn, t_records named. The database is only read."""
    dsn = site.server.dsn(site.dbname)
    n = str(a["recovery_options"].index(option) + 1)
    args = (report, dsn, site.root, "--django-settings", "tenantsite.test_settings",
            "--option", n)
    before = database_checksum(dsn)
    res = rehearse(*args, env=site.env(), cwd=site.root)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    r = json.loads((report / "rehearsal.json").read_text("utf-8"))
    asked = [s["command"] for s in r["steps"] if "tenant_command showmigrations" in s["command"]]
    assert len(asked) == len(option["subjects"]), asked
    left = sorted(t for t in option["subjects"] if rows[t]["undecided"])
    assert r["outcome"] == "confirmed" and all(t in r["why"] for t in left), r["why"]
    assert database_checksum(dsn) == before
    sh = report / option["files"][0]["name"]
    head, *blocks = re.split(r"(?m)^(?=python manage\.py )", sh.read_text("utf-8"))
    sh.write_text(head + "".join(b for b in blocks if '"t_records"' not in b), "utf-8")
    res = rehearse(*args, env=site.env(), cwd=site.root)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    r = json.loads((report / "rehearsal.json").read_text("utf-8"))
    assert r["outcome"] == "differed" and "t_records" in r["why"], r["why"]
    assert database_checksum(dsn) == before
