#!/usr/bin/env python3
"""reportgen benchmarks: figures printed and written, never asserted.

    python3 tasks.py bench [--sizes 1000,10000,50000]

For each catalog size a database is generated on a local PostgreSQL (tables with a primary
key, an FK to the previous table, an index, and django_migrations records); then, in the same
run and on the same database, ``reportgen collect`` and ``pg_dump --schema-only`` are timed,
each in its own process with its peak memory (max RSS), five times alternately after one
discarded warm-up round, the median reported; reportgen's bytecode is compiled first, as pip
does when it installs the package. Render times are measured for the demo
bundle and for the 10,000-table bundle, and the demo's full assess (collect + analyze +
Markdown + PDF) is timed on the planted demo database; Django mode's loader is timed on the
real-project corpus beside Django's own graph loading (``--only django`` runs just that).
Results go to benchmarks/results.md and benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import measure, median_run

from reportgen import __version__
from reportgen.analyze import analyze
from reportgen.bundle import load_bundle
from reportgen.outputs import render_outputs
from reportgen.pgserver import LocalServer, available_binaries
from reportgen.render.markdown import render_markdown
from reportgen.render.view import RenderOptions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Table names of 60 bytes (as long as real ones get), each with a primary key, an FK to the
#: previous table and a named index; django_migrations with records.
GENERATE = """
DO $$
BEGIN
  FOR i IN 1..{n} LOOP
    EXECUTE format('CREATE TABLE %I (id bigint PRIMARY KEY, ref bigint %s, '
                   'name text, created timestamptz)', {name},
                   CASE WHEN i > 1 THEN format('REFERENCES %I(id)', {prev}) ELSE '' END);
    EXECUTE format('CREATE INDEX %I ON %I (name)', 'idx_' || i, {name});
    IF i % 500 = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;
CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255), name varchar(255),
  applied timestamptz);
INSERT INTO django_migrations (app, name, applied)
  SELECT 'ledger', format('%04s_step', i), now() FROM generate_series(1, {records}) i;
"""
#: 'ledger_000001_customer_order_line_item_history_archive_v2_xy' and so on: 60 bytes each.
TABLE_NAME = ("format('ledger_%s_customer_order_line_item_history_archive_v2_xy', "
              "lpad(({i})::text, 6, '0'))")


#: Each tool runs this many times per catalog; the median wall time is reported (with the
#: peak memory of that run).
RUNS = 5


def generate(server: LocalServer, name: str, n: int) -> float:
    t0 = time.perf_counter()
    server.psql(f"CREATE DATABASE {name}")
    server.psql(GENERATE.format(n=n, records=max(10, n // 10),
                                name=TABLE_NAME.format(i="i"),
                                prev=TABLE_NAME.format(i="i - 1")), dbname=name)
    # VACUUM too: otherwise autovacuum works through the freshly bloated catalogs while the
    # tools are timed, and whichever runs first pays for it.
    server.psql("VACUUM ANALYZE", dbname=name)
    return time.perf_counter() - t0


def bench_size(server: LocalServer, n: int, work: Path, pg_dump: Path) -> dict[str, object]:
    name = f"bench_{n}"
    gen_s = generate(server, name, n)
    dsn = server.dsn(name)
    bundle_path = work / f"{name}.json"
    env = {**os.environ, "PGPASSWORD": server.password}
    commands = {
        "collect": ([sys.executable, "-m", "reportgen", "collect", "--dsn", dsn, "-o",
                     str(bundle_path)], None),
        "pg_dump": ([str(pg_dump), "--schema-only", "-f", str(work / f"{name}.sql"), "-d",
                     server.dsn(name, password="")], env)}
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in commands}
    for i in range(RUNS + 1):  # alternated, so both see the same server conditions
        for tool, (cmd, cmd_env) in commands.items():
            result = measure(cmd, env=cmd_env)
            if i:  # the first round warms the server's caches for both; not reported
                runs[tool].append(result)
    rg, dump = median_run(runs["collect"]), median_run(runs["pg_dump"])
    b = load_bundle(bundle_path)
    rels = len(b.inventory.relations) if b.inventory else 0
    return {"tables": n, "relations": rels, "generate_s": round(gen_s, 1),
            "collect_wall_s": round(rg["wall_s"], 3), "collect_peak_mb": round(rg["peak_mb"], 1),
            "pg_dump_wall_s": round(dump["wall_s"], 3),
            "pg_dump_peak_mb": round(dump["peak_mb"], 1),
            "ratio": round(rg["wall_s"] / dump["wall_s"], 3),
            "round_trips": b.collection.round_trips,
            "bundle_mb": round(bundle_path.stat().st_size / 2**20, 1), "bundle": bundle_path}


def assess_time(server: LocalServer, n: int, work: Path, pg_dump: Path) -> dict[str, object]:
    """``reportgen assess`` end to end (collect, analyze, Markdown, HTML, PDF and the
    inventory listings) in its own process, and ``pg_dump --schema-only`` of the same
    database, alternated in the same run: median of RUNS after a warm-up round. Then, on the
    bundle assess wrote, the PDF stage (reportgen's render_pdf with its attachments) beside
    WeasyPrint alone on the same HTML, in this process, and the HTML's size and rows."""
    from pypdf import PdfReader

    out = work / f"assess-{n}"
    env = {**os.environ, "PGPASSWORD": server.password}
    commands = {
        "assess": ([sys.executable, "-m", "reportgen", "assess", "--dsn",
                    server.dsn(f"bench_{n}"), "--format", "md,html,pdf", "--out", str(out),
                    "--quiet"], None),
        "pg_dump": ([str(pg_dump), "--schema-only", "-f", str(work / f"assess-{n}.sql"), "-d",
                     server.dsn(f"bench_{n}", password="")], env)}
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in commands}
    for i in range(RUNS + 1):
        for tool, (cmd, cmd_env) in commands.items():
            result = measure(cmd, env=cmd_env)
            if i:
                runs[tool].append(result)
    best, dump = median_run(runs["assess"]), median_run(runs["pg_dump"])
    return {"wall_s": round(best["wall_s"], 2), "peak_mb": round(best["peak_mb"], 1),
            "pg_dump_wall_s": round(dump["wall_s"], 2),
            "ratio": round(best["wall_s"] / dump["wall_s"], 2),
            "pdf_pages": len(PdfReader(str(out / "report.pdf")).pages),
            "pdf_mb": round((out / "report.pdf").stat().st_size / 2**20, 2),
            **pdf_stage(out / "evidence.json", work)}


def pdf_stage(bundle_path: Path, work: Path) -> dict[str, float]:
    """The PDF stage of a report as assess renders it (render_pdf: shipped fonts, local-only
    fetcher, the bundle and listings attached) beside WeasyPrint's write_pdf alone on the
    same HTML, alternating in this process (median of RUNS); the HTML's size and rows."""
    from weasyprint import HTML

    from reportgen.render.environment import builtin_templates
    from reportgen.render.html import render_html
    from reportgen.render.listing import inventory_listings
    from reportgen.render.pdf import render_pdf

    b = load_bundle(bundle_path)
    a = analyze(b)
    opts = RenderOptions()
    html_text = render_html(render_markdown(b, a, opts), b, a, opts)
    listings = inventory_listings(b, a.relation_apps)
    payload = b.to_bytes()
    ours, peer = [], []
    for i in range(RUNS + 1):
        t0 = time.perf_counter()
        render_pdf(html_text, work / "ours.pdf", bundle_json=payload, listings=listings)
        t1 = time.perf_counter()
        HTML(string=html_text, base_url=str(builtin_templates()) + "/").write_pdf(
            work / "peer.pdf")
        t2 = time.perf_counter()
        if i:
            ours.append(t1 - t0)
            peer.append(t2 - t1)
    o, p = sorted(ours)[len(ours) // 2], sorted(peer)[len(peer) // 2]
    return {"pdf_s": round(o, 2), "weasyprint_s": round(p, 2), "pdf_ratio": round(o / p, 2),
            "html_kb": round(len(html_text.encode()) / 1024, 1),
            "html_rows": html_text.count("<tr")}


#: Catalog sizes from which ``assess`` end to end is timed.
ASSESS_FROM = 10_000


def assess_sizes(bins: object, sizes: list[int], work: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    pg_dump = bins.bindir / "pg_dump"  # type: ignore[attr-defined]
    settings = {"max_locks_per_transaction": "2048"}  # pg_dump locks every table
    with LocalServer(bins, settings=settings) as srv:  # type: ignore[arg-type]
        for n in sizes:
            print(f"{n} tables (60-byte names): generating ...", flush=True)
            generate(srv, f"bench_{n}", n)
            row = {"tables": n, **assess_time(srv, n, work, pg_dump)}
            print(f"  assess {row}", flush=True)
            rows.append(row)
    return rows


#: Snapshots per database for the baseline-store figures, and what the store keeps.
SNAPSHOTS, KEEP = 30, 10


def _store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


def snapshot_sizes(bins: object, work: Path) -> list[dict[str, object]]:
    """``reportgen snapshot --keep 10`` run SNAPSHOTS times on the demo's database and on a
    10,000-table catalog (60-byte names): each run's time (median) and peak memory, one
    baseline's size, and the store's size after all of them (pruned to KEEP)."""
    from reportgen.demo.run import demo_dsn, plant

    rows: list[dict[str, object]] = []
    with LocalServer(bins) as srv:  # type: ignore[arg-type]
        plant(srv, work / "snap-demo-project")
        print("10000 tables for snapshots: generating ...", flush=True)
        generate(srv, "snap_10000", 10_000)
        for label, dsn in (("demo (86 tables)", demo_dsn(srv)),
                           ("10,000 tables", srv.dsn("snap_10000"))):
            store = work / f"store-{len(rows)}"
            cmd = [sys.executable, "-m", "reportgen", "snapshot", "--dsn", dsn, "--store",
                   str(store), "--keep", str(KEEP), "--quiet"]
            runs = [measure(cmd) for _ in range(SNAPSHOTS)]
            one = max((p for p in store.rglob("*.json.gz")), key=lambda p: p.stat().st_mtime)
            best = median_run(runs)
            row = {"database": label, "wall_s": round(best["wall_s"], 2),
                   "peak_mb": round(best["peak_mb"], 1),
                   "baseline_kb": round(one.stat().st_size / 1024, 1),
                   "store_mb": round(_store_bytes(store) / 2**20, 2),
                   "kept": len(list(store.rglob("*.json.gz")))}
            print(f"  snapshot {row}", flush=True)
            rows.append(row)
    return rows


def pdf_overhead(work: Path) -> dict[str, float]:
    """The demo's PDF through reportgen's render_pdf (fonts, local-only fetcher, attachments)
    beside WeasyPrint alone on the same HTML, alternating in this process: median of RUNS."""
    s = pdf_stage(ROOT / "tests/fixtures/demo-evidence.json", work)
    return {"reportgen_s": s["pdf_s"], "weasyprint_s": s["weasyprint_s"], "ratio": s["pdf_ratio"]}


def render_times(bundle_path: Path, work: Path) -> dict[str, float]:
    b = load_bundle(bundle_path)
    t0 = time.perf_counter()
    a = analyze(b)
    t1 = time.perf_counter()
    render_markdown(b, a, RenderOptions())
    t2 = time.perf_counter()
    out = work / f"render-{bundle_path.stem}"
    render_outputs(b, a, RenderOptions(), out, ["pdf"])
    t3 = time.perf_counter()
    from pypdf import PdfReader

    return {"analyze_s": round(t1 - t0, 3), "markdown_s": round(t2 - t1, 3),
            "pdf_s": round(t3 - t2, 3), "pdf_pages": len(PdfReader(str(out / "report.pdf")).pages)}


def demo_assess_time(server_bins: object, work: Path) -> dict[str, float]:
    from reportgen.collect.run import collect_bundle
    from reportgen.connection import DsnSource
    from reportgen.demo.run import demo_dsn, plant
    from reportgen.outputs import assess_outputs
    from reportgen.timeline_file import load_timeline

    with LocalServer(server_bins) as srv:  # type: ignore[arg-type]
        project = work / "demo-project"
        plant(srv, project)
        tl = work / "timeline.csv"
        from reportgen.demo import scenario

        tl.write_text(scenario.timeline_csv())
        t0 = time.perf_counter()
        b = collect_bundle(DsnSource("--dsn", demo_dsn(srv)), project=project, exact_counts=True)
        t1 = time.perf_counter()
        assess_outputs(b, work / "demo-out", RenderOptions(tz="UTC+6"),
                       timeline=load_timeline(tl), formats=["md", "pdf"])
        t2 = time.perf_counter()
    return {"collect_s": round(t1 - t0, 3), "analyze_render_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3)}


def django_mode_time(work: Path) -> dict[str, float]:
    """Django mode on the real-project corpus (tests/incidents/project.py: django-oscar,
    Wagtail, django CMS and eight other apps): reportgen's loader (graph, ProjectState walk,
    every migration's effects) beside Django's own MigrationLoader building the same graph,
    each in its own process, median of RUNS alternating runs. No database is involved."""
    sys.path.insert(0, str(ROOT))  # the corpus project is the test suite's
    from tests.incidents.project import SETTINGS, make_project

    root = make_project(work).root
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "T_DB": "x", "T_PW": "x",
           "T_PORT": "1", "PYTHONPATH": str(root)}
    ours = [sys.executable, "-m", "reportgen.collect.django_loader", SETTINGS, str(root)]
    peer = [sys.executable, "-c", "import django; django.setup(); from django.db.migrations."
            "loader import MigrationLoader; MigrationLoader(None, ignore_no_migrations=True)"]
    out = subprocess.run(ours, env=env, capture_output=True, text=True, check=True).stdout
    migrations = json.loads(out)["migrations"]
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "peer": []}
    for _ in range(RUNS):
        runs["ours"].append(measure(ours, env))
        runs["peer"].append(measure(peer, env))
    a, b = median_run(runs["ours"]), median_run(runs["peer"])
    return {"migrations": len(migrations),
            "with_effects": sum(1 for m in migrations if m["creates"] is not None),
            "loader_s": round(a["wall_s"], 3), "loader_peak_mb": round(a["peak_mb"], 1),
            "django_graph_s": round(b["wall_s"], 3), "ratio": round(a["wall_s"] / b["wall_s"], 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--only", choices=["django", "assess", "snapshot", "tenants", "fleet",
                                       "rehearse"],
                    help="Run one section; "
                    "keep the other figures of results.json as they are.")
    args = ap.parse_args()
    if args.only == "snapshot":
        kept = json.loads((HERE / "results.json").read_text())
        with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
            kept["snapshots"] = snapshot_sizes(available_binaries()[0], Path(tmp))
        (HERE / "results.json").write_text(json.dumps(kept, indent=2) + "\n")
        (HERE / "results.md").write_text(to_markdown(kept))
        return 0
    if args.only == "assess":
        kept = json.loads((HERE / "results.json").read_text())
        bins = available_binaries()[0]
        with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
            kept["pdf_overhead"] = pdf_overhead(Path(tmp))
            print(f"demo PDF: {kept['pdf_overhead']}", flush=True)
            kept["assess"] = assess_sizes(bins, [int(x) for x in args.sizes.split(",")
                                                 if int(x) >= ASSESS_FROM], Path(tmp))
        kept["date"] = time.strftime("%Y-%m-%d")
        (HERE / "results.json").write_text(json.dumps(kept, indent=2) + "\n")
        (HERE / "results.md").write_text(to_markdown(kept))
        return 0
    if args.only in ("tenants", "fleet"):
        import tenants_fleet

        kept = json.loads((HERE / "results.json").read_text())
        with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
            kept[args.only] = getattr(tenants_fleet, args.only)(available_binaries()[0],
                                                                Path(tmp))
        print(f"{args.only}: {kept[args.only]}", flush=True)
        (HERE / "results.json").write_text(json.dumps(kept, indent=2) + "\n")
        (HERE / "results.md").write_text(to_markdown(kept))
        return 0
    if args.only == "rehearse":
        import rehearsal

        kept = json.loads((HERE / "results.json").read_text())
        with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
            kept["rehearse"] = rehearsal.rehearsal(available_binaries()[0], Path(tmp))
        (HERE / "results.json").write_text(json.dumps(kept, indent=2) + "\n")
        (HERE / "results.md").write_text(to_markdown(kept))
        return 0
    if args.only == "django":
        kept = json.loads((HERE / "results.json").read_text())
        with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
            kept["django_mode"] = django_mode_time(Path(tmp))
        print(f"django mode: {kept['django_mode']}", flush=True)
        (HERE / "results.json").write_text(json.dumps(kept, indent=2) + "\n")
        (HERE / "results.md").write_text(to_markdown(kept))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    # Time reportgen as installed: pip compiles a package's bytecode when it installs it, but
    # the editable development install compiles on import, and not even then where
    # PYTHONDONTWRITEBYTECODE is set (as on our development machines): every timed run would then
    # compile reportgen's modules again (about 50 ms that no user pays).
    compileall.compile_dir(str(ROOT / "reportgen"), quiet=1)
    bins = available_binaries()[0]
    pg_dump = bins.bindir / "pg_dump"
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
                   f"{platform.python_version()}",
        "postgresql": f"{bins.version} ({bins.origin})", "reportgen": __version__,
        "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as tmp:
        work = Path(tmp)
        print("demo assess ...", flush=True)
        results["demo_assess"] = demo_assess_time(bins, work)
        print(f"  {results['demo_assess']}", flush=True)
        results["django_mode"] = django_mode_time(work)
        print(f"django mode: {results['django_mode']}", flush=True)
        results["render_demo"] = render_times(ROOT / "tests/fixtures/demo-evidence.json", work)
        print(f"render demo: {results['render_demo']}", flush=True)
        catalog = []
        settings = {"max_locks_per_transaction": "2048"}  # pg_dump locks every table
        with LocalServer(bins, settings=settings) as srv:
            for n in sizes:
                print(f"{n} tables: generating ...", flush=True)
                row = bench_size(srv, n, work, pg_dump)
                print(f"  collect {row['collect_wall_s']} s / {row['collect_peak_mb']} MB, "
                      f"pg_dump --schema-only {row['pg_dump_wall_s']} s / "
                      f"{row['pg_dump_peak_mb']} MB, ratio {row['ratio']}, "
                      f"{row['round_trips']} round trips", flush=True)
                if n == 10000:
                    row["render"] = render_times(Path(str(row["bundle"])), work)
                    print(f"  render: {row['render']}", flush=True)
                row.pop("bundle")
                catalog.append(row)
        results["catalogs"] = catalog
        results["pdf_overhead"] = pdf_overhead(work)
        print(f"demo PDF: {results['pdf_overhead']}", flush=True)
        results["assess"] = assess_sizes(bins, [n for n in sizes if n >= ASSESS_FROM], work)
        results["snapshots"] = snapshot_sizes(bins, work)
        import tenants_fleet

        results["tenants"] = tenants_fleet.tenants(bins, work)
        print(f"tenants: {results['tenants']}", flush=True)
        results["fleet"] = tenants_fleet.fleet(bins, work)
        print(f"fleet: {results['fleet']}", flush=True)
        import rehearsal

        results["rehearse"] = rehearsal.rehearsal(bins, work / "rehearse")
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(to_markdown(results))
    print((HERE / "results.md").read_text())
    return 0


def to_markdown(r: dict) -> str:  # type: ignore[type-arg]
    lines = ["# Benchmark results", "",
             f"{r['date']}, {r['machine']}, PostgreSQL {r['postgresql']}, reportgen "
             f"{r['reportgen']}. Produced by `python3 tasks.py bench`; figures, not assertions.",
             "", "## collect vs pg_dump --schema-only (same run, same database, median of "
             f"{RUNS} alternating runs after a warm-up round)", "",
             "| Tables | Relations | collect | collect peak | pg_dump | pg_dump peak | "
             "collect ÷ pg_dump | Round trips | Bundle |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in r["catalogs"]:
        lines.append(f"| {c['tables']:,} | {c['relations']:,} | {c['collect_wall_s']} s | "
                     f"{c['collect_peak_mb']} MB | {c['pg_dump_wall_s']} s | "
                     f"{c['pg_dump_peak_mb']} MB | **{c['ratio']}** | {c['round_trips']} | "
                     f"{c['bundle_mb']} MB |")
    d = r["demo_assess"]
    lines += ["", "## Demo assess (collect with exact counts + analyze + Markdown + PDF)", "",
              f"collect {d['collect_s']} s, analyze and render {d['analyze_render_s']} s: "
              f"**{d['total_s']} s** in all.", "", "## Render", "",
              "| Bundle | analyze | Markdown | PDF | PDF pages |", "|---|---:|---:|---:|---:|"]
    rd = r["render_demo"]
    lines.append(f"| demo | {rd['analyze_s']} s | {rd['markdown_s']} s | {rd['pdf_s']} s | "
                 f"{rd['pdf_pages']} |")
    for c in r["catalogs"]:
        if "render" in c:
            x = c["render"]
            lines.append(f"| {c['tables']:,} tables | {x['analyze_s']} s | {x['markdown_s']} s | "
                         f"{x['pdf_s']} s | {x['pdf_pages']} |")
    if "assess" in r:
        lines += ["", "## assess end to end beside pg_dump --schema-only (same run, same "
                  "database)", "",
                  "One `reportgen assess --format md,html,pdf` process (collect, analyze, "
                  "Markdown, HTML, PDF, listings) on a catalog of tables with 60-byte names, a "
                  "primary key, a foreign key and an index each, and django_migrations records, "
                  f"alternated with `pg_dump --schema-only` of the same database: medians of "
                  f"{RUNS} runs after a warm-up round. Targets: assess at most 2.0 times "
                  "pg_dump; 50,000 tables under 500 MB; the PDF under 40 pages whatever the "
                  "catalog. The PDF stage is reportgen's render_pdf (bundle and listings "
                  "attached) on the report's HTML, beside WeasyPrint's write_pdf alone on the "
                  "same HTML, in one process.", "",
                  "| Tables | assess | Peak memory | pg_dump | assess ÷ pg_dump | PDF stage | "
                  "WeasyPrint alone | HTML | HTML rows | PDF pages | PDF size |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for x in r["assess"]:
            lines.append(f"| {x['tables']:,} | {x['wall_s']} s | {x['peak_mb']} MB | "
                         f"{x.get('pg_dump_wall_s', '—')} s | **{x.get('ratio', '—')}** | "
                         f"{x.get('pdf_s', '—')} s | {x.get('weasyprint_s', '—')} s | "
                         f"{x.get('html_kb', '—')} KB | {x.get('html_rows', '—')} | "
                         f"{x['pdf_pages']} | {x['pdf_mb']} MB |")
    if "pdf_overhead" in r:
        o = r["pdf_overhead"]
        lines += ["", "## The demo's PDF: reportgen beside WeasyPrint alone (same HTML, same "
                  "process)", "",
                  f"reportgen's render_pdf (shipped fonts, local-only fetcher, bundle and "
                  f"listings attached) {o['reportgen_s']} s; WeasyPrint's write_pdf alone "
                  f"{o['weasyprint_s']} s: ratio **{o['ratio']}** (target: at most 1.2)."]
    if "snapshots" in r:
        lines += ["", "## Baselines: `reportgen snapshot` (exact counts within 10 s)", "",
                  f"{SNAPSHOTS} snapshots of each database into one store with `--keep {KEEP}`; "
                  "each a `reportgen snapshot` process (median time and its peak memory).", "",
                  "| Database | Snapshot | Peak memory | One baseline (gzip) | Store after "
                  f"{SNAPSHOTS} | Kept |", "|---|---:|---:|---:|---:|---:|"]
        for x in r["snapshots"]:
            lines.append(f"| {x['database']} | **{x['wall_s']} s** | {x['peak_mb']} MB | "
                         f"{x['baseline_kb']} KB | {x['store_mb']} MB | {x['kept']} |")
    if "django_mode" in r:
        dj = r["django_mode"]
        lines += ["", "## Django mode on the real-project corpus (no database)", "",
                  f"{dj['migrations']} migrations of django-oscar, Wagtail, django CMS and "
                  "eight other apps (with Django's contrib apps), "
                  f"{dj['with_effects']} with their effects from "
                  "Django's ProjectState. reportgen's loader (Django setup, graph, state walk, "
                  f"effects): **{dj['loader_s']} s**, {dj['loader_peak_mb']} MB; Django's own "
                  f"MigrationLoader building the graph alone: {dj['django_graph_s']} s "
                  f"(ratio {dj['ratio']}). Target: within 1.5 times Django's own graph "
                  "loading (importing the apps is most of both)."]
    import tenants_fleet

    lines += tenants_fleet.markdown(r)
    import rehearsal

    lines += rehearsal.markdown(r)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
