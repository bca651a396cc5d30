#!/usr/bin/env python3
"""Project tasks, standard library only, so a fresh machine with Python 3.11+ can run them.

    python3 tasks.py demo [--out DIR]   set up .venv and run the demo
    python3 tasks.py test [PYTEST ARGS] set up .venv (with dev extras) and run the test suite
    python3 tasks.py matrix             the incident matrix's CI cells (fails on a wrong one)
    python3 tasks.py check              ruff + mypy + tests + matrix (what CI runs)
    python3 tasks.py lint               ruff + mypy only
    python3 tasks.py samples            regenerate sample_reports/ from the demo
    python3 tasks.py bench [--sizes ..] benchmarks (figures, not assertions)
    python3 tasks.py truth [--shapes ..] the full incident matrix, scored against ground truth
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".installed"


def run(*args: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def ensure_venv(extras: str) -> None:
    """Create .venv once; reinstall when pyproject.toml or the extras change."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may run under any python3
        sys.exit(f"reportgen needs Python 3.11+, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]" if extras else ".")
    STAMP.write_text(want)


#: Debian packages: what the PDF renderer needs (WeasyPrint's font subsetting through
#: HarfBuzz-Subset, which later WeasyPrint releases require) and what the tests drive.
RUNTIME_PACKAGES = ["libharfbuzz-subset0"]
TEST_PACKAGES = [*RUNTIME_PACKAGES, "pgbouncer", "openssh-client", "chromium", "poppler-utils",
                 "sqitch", "libdbd-pg-perl", "postgresql-client"]


def _installed(pkg: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                         text=True, check=False)
    return res.returncode == 0 and res.stdout.endswith("installed")


def ensure_system_packages(packages: list[str]) -> None:
    if shutil.which("dpkg-query") is None:
        print(f"note: not a Debian system; make sure {', '.join(packages)} (or your "
              "system's equivalents) are installed", flush=True)
        return
    missing = [pkg for pkg in packages if not _installed(pkg)]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"note: {', '.join(missing)} not installed (needs root and apt-get); the tests "
              "that need them will be skipped", flush=True)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"+ apt-get install {' '.join(missing)}", flush=True)
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def demo(args: list[str]) -> int:
    ensure_venv("demo")
    ensure_system_packages(RUNTIME_PACKAGES)
    return run(BIN / "reportgen", "demo", *args, check=False)


def _pytest(args: list[str]) -> int:
    ensure_venv("dev")
    ensure_system_packages(TEST_PACKAGES)
    # Parallel workers (pytest-xdist); each server's real-app corpus is migrated once, in
    # the one worker that runs its tests (tests/conftest.py schedules them by server).
    workers = ["-n", str(min(4, os.cpu_count() or 1)), "--dist", "loadscope"]
    code = run(PY, "-m", "pytest", *workers, *args, check=False)
    if code == 5:
        print("pytest collected no tests: that is a failure for this project", flush=True)
        return 1
    return code


def test(args: list[str]) -> int:
    """The suite; the incident matrix's CI cells are their own task (``matrix``)."""
    return _pytest(args if any(a == "-m" or a.startswith("-m") for a in args)
                   else ["-m", "not matrix", *args])


def matrix(args: list[str]) -> int:
    """The incident matrix's CI subset (tests/test_incident_matrix.py) with the real-app
    corpus judged by Django (tests/test_corpus.py), its Alembic cells on
    real projects (tests/test_alembic_incidents.py, with Alembic mode's edges,
    tests/test_alembic_mode.py), its golang-migrate, Flyway, Prisma and sqitch cells
    (tests/test_sql_trackers.py) and its django-tenants cells (tests/test_tenant_incidents.py):
    fails on any wrong cell. ``truth`` runs every Django
    cell."""
    return _pytest(["-m", "matrix", "tests/test_incident_matrix.py", "tests/test_corpus.py",
                    "tests/test_alembic_incidents.py", "tests/test_alembic_mode.py",
                    "tests/test_sql_trackers.py", "tests/test_tenant_incidents.py", *args])


def lint(_: list[str]) -> int:
    ensure_venv("dev")
    return run(PY, "-m", "ruff", "check", "reportgen", "tests", "benchmarks", "tasks.py",
               check=False) or \
        run(PY, "-m", "mypy", check=False)


def check(args: list[str]) -> int:
    return lint([]) or test(args) or matrix([])


def samples(_: list[str]) -> int:
    """The demo's outputs, committed to sample_reports/ (demo-project/ left out), an
    Alembic incident on a real project's revisions in sample_reports/alembic/ (the dev
    extras: mlflow's revisions and Alembic), and a django-tenants incident in
    sample_reports/tenants/ (the dev extras: django-tenants, taggit, knox)."""
    ensure_venv("dev")
    ensure_system_packages(RUNTIME_PACKAGES)
    out = ROOT / "sample_reports"
    tmp = ROOT / "build" / "sample-run"
    shutil.rmtree(tmp, ignore_errors=True)
    code = run(BIN / "reportgen", "demo", "--out", tmp.relative_to(ROOT), check=False)
    if code:
        return code
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name in ("evidence.json", "assessment.json", "report.md", "report.html", "report.pdf",
                 "timeline.csv", "inventory.csv", "inventory.json", "rehearsal.json"):
        shutil.copy2(tmp / name, out / name)
    shutil.copytree(tmp / "fix", out / "fix")  # the recommended fixes, as files
    alembic_run = ROOT / "build" / "sample-alembic"
    shutil.rmtree(alembic_run, ignore_errors=True)
    shutil.rmtree(ROOT / "build" / "sample-alembic-work", ignore_errors=True)
    code = run(PY, "-m", "tests.alembic_sample", alembic_run.relative_to(ROOT), check=False)
    if code not in (0, 1):  # 1: findings at or above --fail-on's default, as expected
        return code
    (out / "alembic").mkdir()
    for name in ("evidence.json", "assessment.json", "report.md", "report.html", "report.pdf",
                 "inventory.csv", "inventory.json"):
        shutil.copy2(alembic_run / name, out / "alembic" / name)
    shutil.copytree(alembic_run / "fix", out / "alembic" / "fix")
    tenant_run = ROOT / "build" / "sample-tenants"
    shutil.rmtree(tenant_run, ignore_errors=True)
    code = run(PY, "-m", "tests.tenant_sample", tenant_run.relative_to(ROOT), check=False)
    if code not in (0, 1):
        return code
    (out / "tenants").mkdir()
    for name in ("evidence.json", "assessment.json", "report.md", "report.html", "report.pdf",
                 "inventory.csv", "inventory.json", "tenants.csv", "tenants.json"):
        shutil.copy2(tenant_run / name, out / "tenants" / name)
    shutil.copytree(tenant_run / "fix", out / "tenants" / "fix")
    return 0


def bench(args: list[str]) -> int:
    """benchmarks/run.py: figures printed and written to benchmarks/results.md."""
    ensure_venv("dev")
    return run(PY, ROOT / "benchmarks" / "run.py", *args, check=False)


def truth(args: list[str]) -> int:
    """tests/incidents: every incident shape under every evidence condition (exit 1 on any
    wrong cell); writes tests/incidents/results.md."""
    ensure_venv("dev")
    ensure_system_packages(RUNTIME_PACKAGES)
    return run(PY, "-m", "tests.incidents", *args, check=False)


TASKS = {"demo": demo, "test": test, "lint": lint, "check": check, "samples": samples,
         "bench": bench, "truth": truth, "matrix": matrix}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        sys.exit(2)
    sys.exit(TASKS[sys.argv[1]](sys.argv[2:]))
