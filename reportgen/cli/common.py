"""What every command shares: progress and warnings on stderr, --quiet, the command line as
typed (for Appendix A), and how an embedding entry point supplies the connection."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reportgen.connection import DsnSource, mask_dsn
from reportgen.constants import FORMATS
from reportgen.progress import Progress

EPILOG_EXIT = ("Exit codes: 0 ok; 1 --fail-on level reached (diff: the bundles differ); "
               "2 usage error; 3 cannot connect; 4 invalid input file; 5 incomplete evidence "
               "(--strict); 6 output not written; 7 verification failed; 70 internal error; "
               "130/143 interrupted/terminated; 141 output closed by its reader.")

#: Progress and "wrote" lines on stderr (progress.py); ``--quiet`` silences them.
PROGRESS = Progress()


def say(msg: str) -> None:
    PROGRESS.info(msg)


def warn(msg: str) -> None:
    """Printed even with --quiet: warnings, and the one line of an error."""
    PROGRESS.warn(msg)


def quiet_option(f: Any) -> Any:
    def set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        PROGRESS.quiet = value

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, is_eager=True,
                        callback=set_quiet, help="No progress on stderr (warnings and errors "
                        "are still printed).")(f)


@dataclass
class Embedding:
    """How another entry point (the Django management commands) runs a reportgen command:
    the connection it supplies, and how the command was typed (for Appendix A)."""

    source: DsnSource | None = None
    invoked_as: str = "reportgen"


EMBEDDING = Embedding()


def command_line() -> str:
    """The command as it was run, for Appendix A: a --dsn's password masked whole."""
    args = list(sys.argv[1:])
    for i, a in enumerate(args):
        if i and args[i - 1] == "--dsn":
            args[i] = mask_dsn(a)
        elif a.startswith("--dsn="):
            args[i] = "--dsn=" + mask_dsn(a[6:])
    return EMBEDDING.invoked_as + " " + " ".join(shlex.quote(a) for a in args)


def path_or_none(p: str | None) -> Path | None:
    return Path(p) if p else None


def formats(spec: str) -> list[str]:
    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise click.BadParameter(f"{spec!r}: choose from {','.join(FORMATS)}",
                                 param_hint="--format")
    return fmts


def size(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"
