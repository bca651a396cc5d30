"""The incident matrix: every shape under every evidence condition, assessed by ``reportgen
assess`` as a responder runs it, scored against the planted truth.

    python3 tasks.py truth [--shapes a,b] [--conditions x,y] [--jobs N]

prints the matrix (shape × condition → right / undecided / wrong), the notes of every cell
that is not right, and writes them to tests/incidents/results.md; it exits 1 on any wrong
cell. The test suite runs a subset (tests/test_incident_matrix.py) and fails the same way.

One cell: a copy of a template Django migrated; the activity of a running application; the
condition's set-up (log level, a baseline snapshot); a copy of that state kept as the
"point-in-time restore" a responder would make; the shape planted; the condition's after-math
(a second snapshot, counters reset, a crash restart); ``reportgen assess``; the recommended
fix run as printed (re-recording with Django's MigrationRecorder then ``migrate --plan``; the
selective repair with ``pg_dump``/``psql`` from the restored copy); the score.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.incidents.scoring import RIGHT, UNDECIDED, WRONG, Score, Truth, worst
from tests.incidents.shapes import Shape
from tests.incidents.world import ACTIVITY, READER, RESTRICTED, World, read_facts

#: Apps the static-mode condition does not read (their files are not under --project).
UNREAD = ("knox", "cms", "menus", "wagtailsearch")


@dataclass(frozen=True)
class Condition:
    name: str
    title: str
    role: str | None = None  # None: the superuser
    log: str | None = None  # log_statement for the cell's database; the log is read
    before: bool = False  # a `reportgen snapshot` before the incident
    after: bool = False  # and one after it
    timeline: bool = False  # the responder's timeline says when it began
    reset: bool = False  # pg_stat_reset() after the incident
    restart: bool = False  # a crash restart of the server after the incident
    static: bool = False  # static mode, UNREAD apps not read


CONDITIONS: list[Condition] = [
    Condition("plain", "Django mode, no baseline, no log, superuser"),
    Condition("baseline", "a snapshot before the incident; timeline", before=True,
              timeline=True),
    Condition("around_tl", "snapshots before and after; timeline", before=True, after=True,
              timeline=True),
    Condition("around", "snapshots before and after; no timeline", before=True, after=True),
    Condition("reset", "counters reset after the incident", reset=True),
    Condition("restart", "server crash-restarted after the incident", restart=True),
    Condition("log_ddl", "server log, log_statement = 'ddl'", log="ddl"),
    Condition("log_all", "server log, log_statement = 'all'; timeline", log="all",
              timeline=True),
    Condition("reader", "collected as a pg_read_all_data role", role=READER),
    Condition("restricted", "collected as a role without privileges", role=RESTRICTED),
    Condition("static", f"static mode, {len(UNREAD)} apps not read", static=True),
]
COND_BY_NAME = {c.name: c for c in CONDITIONS}


@dataclass
class Cell:
    shape: str
    condition: str
    score: Score
    seconds: float


def _reportgen(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "reportgen"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def run_cell(world: World, shape: Shape, cond: Condition, codebase: list[dict[str, Any]],
             static_root: Path) -> Cell:
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"cell-{shape.name}-{cond.name}-", dir=world.workdir))
    template = world.template if shape.template == "full" else world.pending_template
    db = world.clone(template)
    restored = ""
    try:
        if cond.log:
            world.server.psql(f"ALTER DATABASE {db} SET log_statement = '{cond.log}'")
        world.execute(db, ACTIVITY)
        env = {**world.project.env(world.server, db),
               "PATH": f"{world.server.binaries.bindir}{os.pathsep}"
                       f"{world.project.env(world.server, db)['PATH']}"}
        dsn = world.dsn(db, cond.role)
        store = work / "store"
        if cond.before:
            _snapshot(world, dsn, store, env)
        restored = world.clone(db, prefix="r")  # the point-in-time restore of the incident
        before = read_facts(world.dsn(db))
        time.sleep(1.1)  # the incident starts at a later second than anything before it
        start = datetime.now(UTC)
        shape.plant(world, db)
        if cond.after:
            _snapshot(world, dsn, store, env)
        if cond.reset:
            world.execute(db, "SELECT pg_stat_reset()")
        if cond.restart:
            # A crash: committed work survives it (the test server runs with
            # synchronous_commit off, so a checkpoint first makes it durable).
            world.execute(db, "CHECKPOINT")
            world.server.restart(mode="immediate")
        after = read_facts(world.dsn(db))
        out = work / "out"
        args = ["assess", "--dsn", dsn, "--format", "md", "--out", str(out), "-q"]
        if cond.static:
            args += ["--project", str(static_root)]
        else:
            args += ["--project", str(world.project.root), "--django-settings",
                     "corpus.test_settings"]
        if cond.before:
            args += ["--baseline", "auto", "--baseline-store", str(store), "--exact-counts"]
        if cond.timeline:
            tl = work / "timeline.csv"
            tl.write_text("time,event,source,approximate\n"
                          f"{start.isoformat()},{shape.reported},responder notes,no\n")
            args += ["--timeline", str(tl)]
        if cond.log:
            args += ["--server-log", str(world.server.logfile)]
        res = _reportgen(*args, cwd=world.project.root, env=env)
        s = Score()
        if res.returncode not in (0, 1) or not (out / "assessment.json").exists():
            s.add(WRONG, f"reportgen assess exited {res.returncode}: {res.stderr[-500:]}")
            return Cell(shape.name, cond.name, s, time.monotonic() - t0)
        assessment = json.loads((out / "assessment.json").read_text())
        truth = Truth(shape, before, after)
        from tests.incidents.scoring import score
        s = score(truth, assessment, codebase, unread_apps=set(UNREAD) if cond.static else set(),
                  full_evidence=cond.role != RESTRICTED)
        evidence = json.loads((out / "evidence.json").read_text())
        _run_fixes(s, world, db, restored, truth, assessment, env, work,
                   (evidence.get("codebase") or {}).get("migrations") or [])
        return Cell(shape.name, cond.name, s, time.monotonic() - t0)
    finally:
        world.drop(*(n for n in (db, restored) if n))
        shutil.rmtree(work, ignore_errors=True)


def _snapshot(world: World, dsn: str, store: Path, env: dict[str, str]) -> None:
    res = _reportgen("snapshot", "--dsn", dsn, "--store", str(store), "-q",
                     cwd=world.project.root, env=env)
    assert res.returncode == 0, res.stderr[-1000:]
    time.sleep(0.05)  # baselines are named by their time


def _run_fixes(s: Score, world: World, db: str, restored: str, truth: Truth,
               a: dict[str, Any], env: dict[str, str], work: Path,
               a_codebase: list[dict[str, Any]]) -> None:
    """Every command the report recommends for production, run as printed."""
    options = {o["id"]: o for o in a["recovery_options"]}
    chosen = [o for o in a["recovery_options"] if o["recommended"]]
    if any(o["id"] == "pitr_new_branch" for o in chosen):
        chosen += [options[i] for i in ("selective_repair", "repair_rows_columns")
                   if i in options]
    for o in chosen:
        if o["id"] == "refake_verified":
            _rerecord(s, world, db, o, env, a_codebase, work)
        elif o["id"] in ("selective_repair", "repair_rows_columns") and o["commands"]:
            _repair(s, world, db, restored, o, truth, env, work)


def _rerecord(s: Score, world: World, db: str, o: dict[str, Any], env: dict[str, str],
              a_codebase: list[dict[str, Any]], work: Path) -> None:
    # The fix as delivered: fix/option-N.py, run as the report says, in the project; the
    # file stays in this cell's own folder (cells run at the same time share the project),
    # and the run line names it there.
    py = next(f for f in o["files"] if f["name"].endswith(".py"))
    path = work / py["name"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(py["content"])
    res = world.project.shell(world.server, db,
                              py["run"].replace(py["name"], shlex.quote(str(path))), env)
    if res.returncode != 0:
        s.add(WRONG, f"the re-record file failed: {res.stderr[-300:]}")
        return
    plan = world.project.plan(world.server, db)
    inconsistent = any("InconsistentMigrationHistory" in x for x in o["outcome"])
    if inconsistent:
        if plan.returncode == 0 or "InconsistentMigrationHistory" not in plan.stderr:
            s.add(WRONG, "predicted InconsistentMigrationHistory; migrate --plan: "
                         f"{plan.stdout[-200:]}{plan.stderr[-200:]}")
        return
    if plan.returncode != 0:
        s.add(WRONG, f"migrate --plan failed after the fix: {plan.stderr[-300:]}")
        return
    listed = next((x for x in o["outcome"] if x.startswith("`migrate --plan` lists")), "")
    text = listed.removeprefix("`migrate --plan` lists: ").rstrip(".")
    scoped = any("(for the apps whose migration files were read" in x for x in o["outcome"])
    predicted = text.split(" (", 1)[0].split(", ") if listed else []
    planned = world.project.planned(plan.stdout)
    if scoped:  # the static scan speaks only for the apps it read
        read = {m["app"] for m in a_codebase}
        planned = [p for p in planned if p.split(".", 1)[0] in read]
    if set(planned) != set(predicted):
        s.add(WRONG, f"migrate --plan lists {sorted(set(planned) - set(predicted))[:4]} "
                     f"beyond the prediction, misses {sorted(set(predicted) - set(planned))[:4]}")


def _repair(s: Score, world: World, db: str, restored: str, o: dict[str, Any], truth: Truth,
            env: dict[str, str], work: Path) -> None:
    run_env = {**env, "RESTORED_DSN": world.dsn(restored), "PRODUCTION_DSN": world.dsn(db)}
    for f in o["files"]:  # as render_outputs writes them; the first is the one to run
        (work / f["name"]).parent.mkdir(parents=True, exist_ok=True)
        (work / f["name"]).write_text(f["content"])
    cmd = o["files"][0]["run"]
    res = subprocess.run(["sh", "-c", cmd], cwd=work, env=run_env, capture_output=True,
                         text=True, timeout=300)
    if res.returncode != 0:
        s.add(WRONG, f"{o['id']}: `{cmd[:80]}` failed: {res.stderr[-300:]}")
        return
    now = read_facts(world.dsn(db))
    for oid, n in truth.after.counts.items():
        table = truth.after.name_of(oid) or "?"
        if table in truth.shape.churn or table.endswith(".django_migrations"):
            continue
        want = truth.before.counts.get(oid, n) if table in truth.rows_lost else n
        if now.counts.get(oid) != want:
            s.add(WRONG, f"after {o['id']}: {table} has {now.counts.get(oid)} rows, "
                         f"expected {want}")
    for table in truth.lost_tables & set(o["subjects"]):
        oid_now, oid_before = now.oid(table), truth.before.oid(table)
        got = now.counts.get(oid_now) if oid_now is not None else None
        want_rows = truth.before.counts.get(oid_before) if oid_before is not None else None
        if got != want_rows:
            s.add(WRONG, f"after {o['id']}: {table} has {got} rows, {want_rows} before the "
                         "incident")


def run_matrix(world: World, shapes: list[Shape], conditions: list[Condition],
               codebase: list[dict[str, Any]], static_root: Path, *, jobs: int = 2,
               echo: Any = print) -> list[Cell]:
    """Every cell; ``jobs`` at a time, except the crash restarts, which run alone."""
    lock = threading.Lock()

    def one(shape: Shape, cond: Condition) -> Cell:
        cell = run_cell(world, shape, cond, codebase, static_root)
        with lock:
            echo(f"{cell.score.verdict:9} {shape.name:22} {cond.name:11} "
                 f"{cell.seconds:5.1f} s")
            for note in cell.score.notes:
                if note.startswith(WRONG):
                    echo(f"          {note}")
        return cell

    pairs = [(s, c) for c in conditions for s in shapes]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        cells = list(pool.map(lambda p: one(*p), [p for p in pairs if not p[1].restart]))
    cells += [one(s, c) for s, c in pairs if c.restart]
    return cells


SYMBOL = {RIGHT: "right", UNDECIDED: "undecided", WRONG: "**WRONG**"}


def table(cells: list[Cell], shapes: list[Shape], conditions: list[Condition]) -> str:
    by = {(c.shape, c.condition): c for c in cells}
    head = "| shape | " + " | ".join(c.name for c in conditions) + " |"
    lines = [head, "|---" * (len(conditions) + 1) + "|"]
    for shape in shapes:
        row = [SYMBOL[by[shape.name, c.name].score.verdict] if (shape.name, c.name) in by
               else "" for c in conditions]
        lines.append(f"| {shape.name} | " + " | ".join(row) + " |")
    counts = {v: sum(1 for c in cells if c.score.verdict == v) for v in (RIGHT, UNDECIDED,
                                                                         WRONG)}
    lines.append("")
    lines.append(f"{len(cells)} cells: {counts[RIGHT]} right, {counts[UNDECIDED]} undecided, "
                 f"{counts[WRONG]} wrong.")
    return "\n".join(lines)


def notes(cells: list[Cell]) -> str:
    out = []
    for c in cells:
        if c.score.notes:
            out.append(f"- {c.shape} × {c.condition} ({c.score.verdict}): "
                       + "; ".join(c.score.notes[:6])
                       + (f" (+{len(c.score.notes) - 6} more)" if len(c.score.notes) > 6
                          else ""))
    return "\n".join(out)


def summary(cells: list[Cell]) -> str:
    return worst([c.score.verdict for c in cells])
