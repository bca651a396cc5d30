"""The command line, as a table of contents: one module per group of commands, the shared
options in options.py, what they read in inputs.py, the exit-code policy in exits.py.

Exit codes (see README): 0 ok, 1 --fail-on reached, 2 usage, 3 connection, 4 bad input file,
5 incomplete evidence with --strict, 6 output not written, 7 verification failed, 70
internal error, 130/143 interrupted/terminated, 141 standard output closed by its reader.

Heavy modules (analyzer, renderers, archive) are imported inside the commands that use them,
so `reportgen collect` starts fast.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import warnings

import click

from reportgen import __version__
from reportgen.connection import DsnSource

from .collecting import collect, snapshot
from .common import EMBEDDING, EPILOG_EXIT
from .exits import Commands, run, terminate
from .fleet import fleet
from .rehearsing import rehearse_cmd
from .reporting import analyze_cmd, archive_cmd, assess, render
from .store import baselines
from .tools import demo, diff, extract, schema, verify


@click.group(cls=Commands, epilog=EPILOG_EXIT)
@click.version_option(__version__, prog_name="reportgen")
def cli() -> None:
    """Read-only PostgreSQL incident evidence, analysis and reports.

    \b
    Typical use during an incident:
      reportgen assess --dsn "$DATABASE_URL" --project . --timeline timeline.csv --out incident/
    Or in steps:
      reportgen collect --dsn "$DATABASE_URL" --project . -o evidence.json
      reportgen analyze evidence.json
      reportgen render evidence.json --format md,pdf --out incident/
    Try it without a database of your own:
      reportgen demo --out demo-output/
    """


for command in (collect, snapshot, baselines, analyze_cmd, render, assess, demo, diff,
                archive_cmd, verify, extract, schema, fleet, rehearse_cmd):
    cli.add_command(command)


def run_embedded(argv: list[str], source: DsnSource, invoked_as: str) -> int:
    """Run ``reportgen ARGV`` with the connection from ``source`` (never a --dsn), as typed
    through ``invoked_as`` (e.g. "python manage.py"): the exit code, as the CLI's."""
    EMBEDDING.source, EMBEDDING.invoked_as = source, invoked_as
    try:
        return run(cli, argv)
    finally:
        EMBEDDING.source, EMBEDDING.invoked_as = None, "reportgen"


def main(argv: list[str] | None = None) -> None:
    """The console script: runs one command, then the process exits."""
    signal.signal(signal.SIGTERM, terminate)
    # One command, then the process exits: what survives to the oldest generation (the
    # evidence's models) lives to the end, so full cyclic collections would only walk it
    # again and again, each pass over every object (0.1 s at 10,000 tables). The young
    # generations are still collected.
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1 << 30)
    if not os.environ.get("REPORTGEN_DEBUG"):
        # reportgen says what matters in its own words: a library's warnings (pypdf's about a
        # PDF it reads, a deprecation) never reach the responder's terminal.
        warnings.simplefilter("ignore")
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        rv = run(cli, argv)
    finally:
        # Exiting frees every object anyway: frozen, they are skipped by the interpreter's
        # last cyclic collections (~40 ms once the models are imported). Atexit handlers and
        # flushes still run.
        gc.freeze()
    sys.exit(rv)
