"""Errors that reach the user, each with its documented exit code.

Library code raises these; only the CLI turns them into a message and an exit code.
"""

from __future__ import annotations

# Exit codes (documented in README.md, tested in tests/test_cli.py).
EXIT_OK = 0
EXIT_GATE = 1  # --fail-on LEVEL was reached by the assessment
EXIT_DIFFERENT = 1  # diff: the two bundles differ (as diff(1))
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_CONNECTION = 3  # could not connect / authenticate / the server went away
EXIT_INPUT = 4  # a bundle, baseline, timeline or template file is unreadable or invalid
EXIT_INCOMPLETE = 5  # --strict and the evidence is incomplete (a collector failed)
EXIT_OUTPUT = 6  # an output could not be written or rendered
EXIT_VERIFY = 7  # verify/extract: a file does not match its manifest or digest
EXIT_INTERNAL = 70  # a bug in reportgen
EXIT_CLOSED_PIPE = 141  # the reader of standard output went away (`| head`): 128 + SIGPIPE


class ReportgenError(Exception):
    """An error meant for the user: one line, no traceback."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectionFailed(ReportgenError):
    exit_code = EXIT_CONNECTION


class InputError(ReportgenError):
    exit_code = EXIT_INPUT


class DigestMismatch(InputError):
    """A bundle's content does not match its own digest (``extract`` reports it as a failed
    verification)."""


class OutputError(ReportgenError):
    exit_code = EXIT_OUTPUT


class IncompleteEvidence(ReportgenError):
    exit_code = EXIT_INCOMPLETE


class VerificationFailed(ReportgenError):
    exit_code = EXIT_VERIFY


class GateReached(ReportgenError):
    exit_code = EXIT_GATE
