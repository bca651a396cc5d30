"""Exit-code policy, in one place: every error class carries its code (errors.py); this
maps what a command raised to one line on stderr and that code. README: "Exit codes"."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from reportgen.connection import scrub
from reportgen.errors import (
    EXIT_CLOSED_PIPE,
    EXIT_INTERNAL,
    EXIT_OK,
    GateReached,
    ReportgenError,
)

from .common import warn

if TYPE_CHECKING:
    from reportgen.analyze.model import Assessment


class ClosedPipe(Exception):
    """Standard output's reader went away. Not an OSError, so click does not turn it into
    exit 1 on its own."""


class Commands(click.Group):
    """The command group: a closed pipe on standard output (``reportgen analyze ... | head``)
    ends the command quietly, with the status a shell shows for SIGPIPE."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise ClosedPipe from exc


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding like Ctrl-C."""


def terminate(signum: int, frame: object) -> None:
    """SIGTERM (a CI timeout, `kill`, a container stop) unwinds like Ctrl-C: every write in
    progress removes its temporary file and the snapshot is rolled back; exit 143."""
    raise Terminated


def gate(a: Assessment, fail_on: str | None) -> int:
    """--fail-on: exit 1 when a finding reaches the level. The gate looks at findings: risk
    levels start at LOW, so with no finding at all even --fail-on LOW must pass."""
    from reportgen.analyze.model import level_rank

    worst = max((f.severity for f in a.findings), key=level_rank, default=None)
    if fail_on and worst is not None and level_rank(worst) >= level_rank(fail_on.upper()):
        raise GateReached(f"a {worst} finding reached --fail-on {fail_on.upper()}: "
                          f"{a.status}")
    return EXIT_OK


def run(group: click.Group, argv: list[str] | None) -> int:
    """Run one command of ``group``; its exit code, whatever it raised."""
    try:
        rv = group.main(args=argv, prog_name="reportgen", standalone_mode=False)
    except ClosedPipe:
        # Whatever is still buffered would fail again at exit: standard output goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_CLOSED_PIPE)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C and SIGTERM into Abort
        if isinstance(exc.__cause__, Terminated):
            warn("reportgen: terminated")
            sys.exit(143)
        warn("reportgen: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReportgenError as exc:
        warn(f"reportgen: error: {exc.message}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        warn("reportgen: terminated" if isinstance(exc, Terminated) else "reportgen: interrupted")
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("REPORTGEN_DEBUG"):
            raise
        warn(f"reportgen: internal error: {type(exc).__name__}: {scrub(str(exc), [])} "
             "(set REPORTGEN_DEBUG=1 for a traceback, and please report it)")
        sys.exit(EXIT_INTERNAL)
    return rv if isinstance(rv, int) else EXIT_OK
