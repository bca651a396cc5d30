"""Schema per tenant and fleets at scale: figures printed, never asserted.

Tenants: one database laid out by django-tenants (from PyPI): the shared apps in public, and
1,000 tenant schemas of 50 tables each (a generated tenant app of 48 models, contenttypes and
the schema's own django_migrations). The first tenant is migrated by ``migrate_schemas``
itself; the other 999 are its schema copied under their own names (pg_dump of the first,
renamed), each with its row in the tenant table. Timed: ``reportgen assess --project
--django-settings`` (collect, Django's loader, every tenant reconciled, Markdown), its peak
memory, beside ``pg_dump --schema-only`` of the same database: medians after a warm-up.

Fleet: 200 small databases on one server (a template with a django_migrations and 20 tables,
copied), all listed in a members file with the password in a passfile. Timed: ``reportgen
fleet assess`` over all of them at the default concurrency, beside ``reportgen assess`` run
200 times in a row on the same databases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from timing import measure, median_run

from reportgen.pgserver import LocalServer

TENANTS, TENANT_MODELS = 1_000, 48
FLEET = 200
RUNS = 3

def _ledger_models() -> str:
    lines = ["from django.db import models", ""]
    for i in range(TENANT_MODELS):
        lines += ["", f"class Entry{i:02d}(models.Model):",
                  "    name = models.CharField(max_length=100)",
                  "    amount = models.DecimalField(max_digits=12, decimal_places=2)",
                  "    created = models.DateTimeField(auto_now_add=True)"]
        if i:
            lines.append(f"    previous = models.ForeignKey('Entry{i - 1:02d}', "
                         "models.SET_NULL, null=True)")
    return "\n".join(lines) + "\n"


def tenants(bins: Any, work: Path) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test suite's site
    from tests.tenant_site import SETTINGS, TenantSite

    settings = {"max_locks_per_transaction": "2048", "max_connections": "100"}
    with LocalServer(bins, settings=settings) as srv:
        db = "bench_tenants"
        (work / "tenants").mkdir()
        site = TenantSite(srv, work / "tenants", db, tenant_apps=[
            "django.contrib.contenttypes", "ledger"], apps={"ledger": _ledger_models()})
        env = {**site.env(), "PGPASSWORD": srv.password}
        t0 = time.perf_counter()
        first = "t00000"
        site.build([first])  # migrate_schemas: the shared schema, then the first tenant
        dump = subprocess.run([str(bins.bindir / "pg_dump"), f"--schema={first}", "--no-owner",
                               "-d", srv.dsn(db, password="")], env=env, check=True,
                              capture_output=True, text=True).stdout
        batch: list[str] = []
        for i in range(1, TENANTS):
            name = f"t{i:05d}"
            batch.append(dump.replace(first, name))
            batch.append(f"INSERT INTO public.customers_client (schema_name, name) "
                         f"VALUES ('{name}', '{name}');")
            # Each tenant migrated at its own time, as a rollout does: no two alike.
            batch.append(f"UPDATE {name}.django_migrations SET applied = applied + "
                         f"interval '{i} seconds';")
            if len(batch) >= 100 or i == TENANTS - 1:
                srv.psql("\n".join(batch), dbname=db)
                batch = []
        srv.psql("VACUUM ANALYZE", dbname=db)
        generate_s = time.perf_counter() - t0
        relations = _scalar(srv, db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND "
                            "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'")
        out = work / "tenants-out"
        assess = [sys.executable, "-m", "reportgen", "assess", "--dsn", srv.dsn(db),
                  "--project", str(site.root), "--django-settings", SETTINGS,
                  "--format", "md", "--out", str(out), "--quiet"]
        dump_cmd = [str(bins.bindir / "pg_dump"), "--schema-only", "-f",
                    str(work / "tenants.sql"), "-d", srv.dsn(db, password="")]
        runs: dict[str, list[dict[str, float]]] = {"assess": [], "pg_dump": []}
        for i in range(RUNS + 1):
            a = measure(assess, env=env, cwd=site.root)
            d = measure(dump_cmd, env=env)
            if i:
                runs["assess"].append(a)
                runs["pg_dump"].append(d)
        import json

        result = json.loads((out / "assessment.json").read_text("utf-8"))
        counts: dict[str, int] = {}
        for r in result["tenants"]["rows"]:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        best, dmp = median_run(runs["assess"]), median_run(runs["pg_dump"])
        return {"tenants": TENANTS, "tables": relations, "generate_s": round(generate_s, 1),
                "assess_wall_s": round(best["wall_s"], 2),
                "assess_peak_mb": round(best["peak_mb"], 1),
                "pg_dump_wall_s": round(dmp["wall_s"], 2),
                "ratio": round(best["wall_s"] / dmp["wall_s"], 2), "verdicts": counts,
                "status": result["status"]}


def _scalar(srv: LocalServer, db: str, sql: str) -> int:
    out = srv.psql(f"\\pset tuples_only on\n\\pset format unaligned\n{sql}", dbname=db)
    return int(out.strip().splitlines()[-1])


FLEET_SCHEMA = """
CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255) NOT NULL,
    name varchar(255) NOT NULL, applied timestamptz NOT NULL);
DO $$ BEGIN
  FOR i IN 1..20 LOOP
    EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, name text, created timestamptz)',
                   'shop_item' || i);
  END LOOP;
END $$;
INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0001_initial', now());
"""


def _fleet_project(root: Path) -> Path:
    project = root / "fleet-project"
    (project / "shop" / "migrations").mkdir(parents=True)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "models.py").write_text("")
    (project / "shop" / "migrations" / "__init__.py").write_text("")
    fields = "\n".join(
        f"        migrations.CreateModel(name='Item{i}', fields=[('id', models.BigAutoField("
        "primary_key=True)), ('name', models.TextField(null=True)), ('created', "
        "models.DateTimeField(null=True))])," for i in range(1, 21))
    (project / "shop" / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n"
        f"    operations = [\n{fields}\n    ]\n")
    return project


def fleet(bins: Any, work: Path) -> dict[str, object]:
    settings = {"max_connections": "100"}
    with LocalServer(bins, settings=settings) as srv:
        srv.psql("CREATE DATABASE fleet_template")
        srv.psql(FLEET_SCHEMA, dbname="fleet_template")
        for i in range(FLEET):
            srv.psql(f"CREATE DATABASE fleet_{i:03d} TEMPLATE fleet_template")
        passfile = work / "pgpass"
        passfile.write_text(f"127.0.0.1:{srv.port}:*:{srv.superuser}:{srv.password}\n")
        passfile.chmod(0o600)
        members = work / "members.txt"
        dsns = [f"host=127.0.0.1 port={srv.port} user={srv.superuser} dbname=fleet_{i:03d}"
                for i in range(FLEET)]
        members.write_text("\n".join(dsns) + "\n")
        env = {**os.environ, "PGPASSFILE": str(passfile)}
        env.pop("PGPASSWORD", None)
        project = _fleet_project(work)
        cmd = [sys.executable, "-m", "reportgen", "fleet", "assess", "--members", str(members),
               "--project", str(project), "--out", str(work / "fleet-out"), "--quiet"]
        measure(cmd, env=env)  # warm-up
        one = measure(cmd, env=env)
        t0 = time.perf_counter()
        peak = 0.0
        for i, dsn in enumerate(dsns):
            r = measure([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                          "--project", str(project), "--format", "md", "--out",
                          str(work / "serial" / str(i)), "--quiet"], env=env)
            peak = max(peak, r["peak_mb"])
        serial = time.perf_counter() - t0
        return {"databases": FLEET, "fleet_wall_s": round(one["wall_s"], 2),
                "fleet_peak_mb": round(one["peak_mb"], 1), "serial_wall_s": round(serial, 2),
                "serial_peak_mb": round(peak, 1), "ratio": round(one["wall_s"] / serial, 3)}


def markdown(r: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "tenants" in r:
        t = r["tenants"]
        lines += ["", "## Schema per tenant: one database, "
                  f"{t['tenants']:,} tenant schemas", "",
                  f"django-tenants' layout, {t['tables']:,} tables ({t['tenants']:,} tenant "
                  "schemas of 50 tables, each with its own django_migrations; the first "
                  "migrated by migrate_schemas, the rest its copies, each with its own "
                  "applied times). One `reportgen assess "
                  "--project --django-settings --format md` process (collect, Django's "
                  "loader, every tenant reconciled, Markdown and listings), median of "
                  f"{RUNS} after a warm-up, beside `pg_dump --schema-only` of the same "
                  "database. Target: under 30 s and 1 GB.", "",
                  "| Tenants | Tables | assess | Peak memory | pg_dump | assess ÷ pg_dump | "
                  "Verdicts |", "|---:|---:|---:|---:|---:|---:|---|",
                  f"| {t['tenants']:,} | {t['tables']:,} | **{t['assess_wall_s']} s** | "
                  f"**{t['assess_peak_mb']} MB** | {t['pg_dump_wall_s']} s | {t['ratio']} | "
                  + ", ".join(f"{k} {v}" for k, v in sorted(t["verdicts"].items())) + " |"]
    if "fleet" in r:
        f = r["fleet"]
        lines += ["", f"## Fleet: {f['databases']} databases on one server", "",
                  "`reportgen fleet assess` over all of them (default concurrency, one bundle "
                  "and Markdown report each, the summary), after a warm-up run, beside "
                  f"`reportgen assess` run {f['databases']} times in a row on the same "
                  "databases. Target: the fleet under 60 s.", "",
                  "| Databases | fleet assess | Peak memory | assess × "
                  f"{f['databases']} in a row | fleet ÷ in a row |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {f['databases']} | **{f['fleet_wall_s']} s** | {f['fleet_peak_mb']} MB | "
                  f"{f['serial_wall_s']} s | {f['ratio']} |"]
    return lines
