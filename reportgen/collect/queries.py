"""SQL lives in ``sql/*.sql``, one file per catalog area, loaded once."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    return resources.files("reportgen.collect.sql").joinpath(f"{name}.sql").read_text("utf-8")
