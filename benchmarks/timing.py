"""Timing one command the way every benchmark here does: in a fresh child process, its wall
time and its peak memory (max RSS); the median of several runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> dict[str, float]:
    """Wall time and peak RSS of one command, in a fresh child process."""
    probe = ("import resource,subprocess,sys,time,json;t=time.perf_counter();"
             "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
             "w=time.perf_counter()-t;"
             "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
             "print(json.dumps({'rc':r.returncode,'wall_s':w,'peak_mb':m/1024,"
             "'err':r.stderr.decode()[-300:]}))")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True,
                         env=env, cwd=cwd, check=True).stdout
    res: dict[str, float] = json.loads(out)
    if res["rc"]:
        raise SystemExit(f"{cmd[0]} failed: {res['err']}")
    return res


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median wall time (with that run's peak memory)."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
