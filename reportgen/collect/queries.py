"""SQL lives in ``sql/*.sql``, one file per catalog area, loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

#: Read as plain files beside this module (importlib.resources would cost the first query
#: ~10 ms of imports; reportgen is never run from a zip).
SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def load(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text("utf-8")
