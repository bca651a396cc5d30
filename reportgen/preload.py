"""Modules imported in a background thread while the process waits on something else (the
collection waits on the server): WeasyPrint alone is most of a second of Python and native
libraries, and the analyzer and renderers are most of another half."""

from __future__ import annotations

import contextlib
import importlib
import threading


def preload(*modules: str) -> threading.Thread:
    """Import ``modules`` in a daemon thread, in order. A failed import is left for the code
    that uses the module to report; a module being imported is waited for by anyone else who
    imports it (Python's import lock), so nothing sees it half-done."""

    def work() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=work, name="reportgen-preload", daemon=True)
    thread.start()
    return thread
