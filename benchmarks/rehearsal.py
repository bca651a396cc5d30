"""``reportgen rehearse`` on the demo incident and on a 10,000-table catalog: figures
printed, never asserted.

Each database is the demo's (reportgen/demo: the planted DeltaCrown incident, its Django
project made runnable), assessed once (Markdown only, so the re-render after the rehearsal is
the Markdown's); then ``reportgen rehearse`` (the copy, the fix run as delivered, Django's
showmigrations and migrate --plan, the report rewritten) in its own process, beside
``pg_dump --schema-only`` of the same database, alternated: medians of RUNS after a warm-up.

The 10,000-table catalog is the demo's database with 10,000 more tables (a primary key and a
text column each, in a schema of their own), on two servers: one with PostgreSQL's default
lock table (max_locks_per_transaction 64 × 100 connections: pg_dump --schema-only would need
a lock per table, so the rehearsal copies the catalog instead, and pg_dump itself is timed as
it fails), and one with max_locks_per_transaction = 2048 (pg_dump copies the schema).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from timing import measure, median_run

from reportgen.pgserver import LocalServer

RUNS = 3
EXTRA = 10_000
BATCH = 1_000  # tables created per transaction (each holds its lock until commit)


def _site(srv: LocalServer, work: Path, extra: int) -> tuple[Path, Path, str]:
    """The demo planted on ``srv`` (plus ``extra`` tables), its project runnable, assessed:
    (report folder, project, DSN)."""
    from reportgen.demo import keep
    from reportgen.demo.run import demo_dsn, plant

    plant(srv, work / "demo-project")
    for start in range(0, extra, BATCH):
        # As the demo's own role (as an application's tables are): pg_dump, run as that
        # role, may read them.
        srv.psql("SET ROLE neondb_owner;\n"
                 + ("CREATE SCHEMA IF NOT EXISTS bulk;\n" if not start else "") + "DO $$ BEGIN "
                 f"FOR i IN {start}..{min(start + BATCH, extra) - 1} LOOP EXECUTE "
                 "format('CREATE TABLE bulk.t%s (id int PRIMARY KEY, v text)', i); "
                 "END LOOP; END $$;", dbname="deltacrown")
    srv.psql("VACUUM ANALYZE", dbname="deltacrown")
    project = keep.django_project(work, srv)
    out = work / "report"
    dsn = demo_dsn(srv)
    subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn, "--project",
                    str(project), "--format", "md", "--out", str(out), "--quiet"],
                   check=False, capture_output=True, timeout=1800)
    if not (out / "assessment.json").is_file():
        raise SystemExit("assess wrote no assessment")
    return out, project, dsn


def _one(bins: Any, work: Path, extra: int, settings: dict[str, str]) -> dict[str, object]:
    work.mkdir(parents=True)
    with LocalServer(bins, settings=settings) as srv:
        out, project, dsn = _site(srv, work, extra)
        rehearse = [sys.executable, "-m", "reportgen", "rehearse", str(out), "--dsn", dsn,
                    "--project", str(project), "--django-settings", "demo_settings",
                    "--quiet"]
        dump = [str(bins.bindir / "pg_dump"), "--schema-only", "-f",
                str(work / "schema.sql"), "-d", srv.dsn("deltacrown", password="")]
        env = {**os.environ, "PGPASSWORD": srv.password}
        runs: dict[str, list[dict[str, float]]] = {"rehearse": [], "pg_dump": []}
        dump_failed: str | None = None
        for i in range(RUNS + 1):
            r = measure(rehearse, cwd=project)
            t0 = time.perf_counter()
            res = subprocess.run(dump, env=env, capture_output=True, text=True)
            d = {"wall_s": time.perf_counter() - t0, "peak_mb": 0.0}
            if res.returncode:
                dump_failed = next((x for x in res.stderr.splitlines() if "error" in x),
                                   res.stderr.strip())[:120]
            if i:
                runs["rehearse"].append(r)
                runs["pg_dump"].append(d)
        transcript = json.loads((out / "rehearsal.json").read_text("utf-8"))
        best, peer = median_run(runs["rehearse"]), median_run(runs["pg_dump"])
        return {"tables": transcript_tables(srv), "copy": transcript["copy"],
                "outcome": transcript["outcome"], "wall_s": round(best["wall_s"], 2),
                "peak_mb": round(best["peak_mb"], 1),
                "steps": {s["what"]: s["seconds"] for s in transcript["steps"]},
                "pg_dump_wall_s": round(peer["wall_s"], 2),
                "pg_dump": dump_failed or "ok",
                "ratio": round(best["wall_s"] / peer["wall_s"], 2)}


def transcript_tables(srv: LocalServer) -> int:
    out = srv.psql("SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace "
                   "NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
                   dbname="deltacrown")
    return int(next(x.strip() for x in out.splitlines() if x.strip().isdigit()))


def rehearsal(bins: Any, work: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, extra, settings in (
            ("demo", 0, {}),
            ("10,000 more tables, default lock table", EXTRA, {}),
            ("10,000 more tables, max_locks_per_transaction = 2048", EXTRA,
             {"max_locks_per_transaction": "2048"})):
        print(f"rehearse: {name} ...", flush=True)
        row = {"database": name, **_one(bins, work / f"r{len(rows)}", extra, settings)}
        print(f"  {row}", flush=True)
        rows.append(row)
    return rows


def markdown(r: dict[str, Any]) -> list[str]:
    if "rehearse" not in r:
        return []
    lines = ["", "## reportgen rehearse (the demo's fix on a scratch copy, judged by Django)", "",
             "One `reportgen rehearse` process on the demo incident's database (copy the "
             "schema and the tracker's rows, restore them into a throwaway embedded server "
             "started for it, run fix/option-1.py as delivered, Django's showmigrations and "
             "migrate --plan, the report rewritten), alternated with `pg_dump --schema-only` "
             f"of the same database: medians of {RUNS} runs after a warm-up. Restoring the "
             "copy into the scratch server is most of it on a large catalog (see the "
             "transcript's step times in results.json).", "",
             "| Database | Tables | Copy | Outcome | rehearse | Peak memory | pg_dump "
             "--schema-only | rehearse ÷ pg_dump |", "|---|---:|---|---|---:|---:|---|---:|"]
    for x in r["rehearse"]:
        dump = f"{x['pg_dump_wall_s']} s" + ("" if x["pg_dump"] == "ok"
                                             else f" (fails: {x['pg_dump']})")
        ratio = x["ratio"] if x["pg_dump"] == "ok" else "—"
        lines.append(f"| {x['database']} | {x['tables']:,} | {x['copy']} | {x['outcome']} | "
                     f"**{x['wall_s']} s** | {x['peak_mb']} MB | {dump} | {ratio} |")
    return lines
