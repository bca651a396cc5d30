"""Fixture-bundle surgery for analyzer tests: change the evidence, re-seal the digest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from reportgen.bundle import EvidenceBundle


def variant(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> EvidenceBundle:
    d = copy.deepcopy(data)
    change(d)
    return EvidenceBundle.model_validate(d).sealed()


def drop_table(name: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["inventory"]["relations"] = [r for r in d["inventory"]["relations"] if r["name"] != name]
    return change


def drop_column(table: str, column: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        for r in d["inventory"]["relations"]:
            if r["name"] == table:
                r["columns"] = [c for c in r["columns"] if c["name"] != column]
    return change


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def html_text(html: str) -> str:
    """The text a reader sees in an HTML document (markup removed)."""
    parser = _Text()
    parser.feed(html)
    return "".join(parser.chunks)
