"""Progress on stderr for every step that can take more than a second.

On a terminal, one line is redrawn in place (a stage, or a count such as "counting rows
120/4000"); elsewhere (a CI log, a pipe), plain lines: one when a stage starts, and for counts
at most one every few seconds. ``--quiet`` silences all of it; warnings and errors are always
printed. A final line says where the outputs are and how long each stage took.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: Plain (non-terminal) count lines: at most one this often, besides the last.
PLAIN_EVERY_S = 5.0


class Progress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self._stream = stream
        self.stages: list[tuple[str, float]] = []
        self.started = time.perf_counter()
        self._drawn = 0  # width of the line drawn in place (terminal only)
        self._last_plain = 0.0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def _draw(self, text: str) -> None:
        text = text[:120]
        self.stream.write("\r" + text + " " * max(0, self._drawn - len(text)))
        self.stream.flush()
        self._drawn = len(text)

    def info(self, msg: str) -> None:
        """A line of progress (silenced by --quiet)."""
        if self.quiet:
            return
        self._clear()
        self.stream.write(msg + "\n")
        self.stream.flush()

    def warn(self, msg: str) -> None:
        """A warning: printed even with --quiet."""
        self._clear()
        self.stream.write(msg + "\n")
        self.stream.flush()

    @contextmanager
    def stage(self, name: str, label: str | None = None) -> Iterator[None]:
        """Time a stage (for the final line) and show it while it runs."""
        if not self.quiet:
            if self.tty:
                self._draw(f"{label or name} ...")
            elif label:
                self.info(f"{label} ...")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages.append((name, time.perf_counter() - t0))
            if not self.quiet and self.tty:
                self._clear()

    def phase(self, label: str) -> None:
        """A step inside a stage starts (e.g. loading Django's migration graph)."""
        if self.quiet:
            return
        if self.tty:
            self._draw(f"{label} ...")
        else:
            self.info(f"{label} ...")

    def count(self, label: str, done: int, total: int, item: str = "") -> None:
        if self.quiet:
            return
        text = f"{label} {done}/{total}" + (f" {item[:50]}" if item else "")
        if self.tty:
            self._draw(text)
            return
        now = time.perf_counter()
        if done == total or now - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = now
            self.info(text)

    def summary(self, where: str) -> str:
        total = time.perf_counter() - self.started
        parts = ", ".join(f"{n} {s:.2f} s" for n, s in self.stages)
        return f"done in {total:.1f} s ({parts}); outputs in {where}"
