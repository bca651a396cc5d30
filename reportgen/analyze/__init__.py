"""The analyzer: pure, bundle (+ baseline, + timeline) → Assessment. Touches no database.

``analyze`` is loaded on first use (run.py): the renderer imports the Assessment's types
from model.py, and redrawing a saved assessment never loads the rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reportgen.analyze.model import Assessment
    from reportgen.analyze.run import analyze

__all__ = ["Assessment", "analyze"]


def __getattr__(name: str) -> Any:
    if name == "analyze":
        from reportgen.analyze.run import analyze

        return analyze
    if name == "Assessment":
        from reportgen.analyze.model import Assessment

        return Assessment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
