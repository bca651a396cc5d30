"""Memory of a large catalog: give freed memory back to the operating system, and keep the
cycle collector off the models.

libpq keeps each query's result in C memory (a 50,000-table catalog's results are ~250 MB)
and frees it when psycopg lets the result go; glibc keeps what was freed for later mallocs,
but Python's small objects come from their own mmap'd arenas and never reuse it, so the
process would carry it to the end. ``malloc_trim`` hands the free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # musl has none
    except OSError:
        return None


def give_back() -> None:
    """Return free heap pages to the system (glibc on Linux; elsewhere nothing to do)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for the block: building a 10,000-table catalog's models
    (half a million objects, none in a cycle) would otherwise run it again and again, each
    full pass over every object made so far (0.1 s a pass at 10,000 tables)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()

