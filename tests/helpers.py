"""Fixture-bundle surgery for analyzer tests: change the evidence, re-seal the digest."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
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


def startproject(parent: Path, name: str, overlay: str) -> Path:
    """Django's own ``startproject NAME`` in ``parent/site``, with ``overlay`` as
    ``NAME/test_settings.py`` (the settings pointing it at a test server)."""
    root = parent / "site"
    root.mkdir()
    subprocess.run([sys.executable, "-m", "django", "startproject", name, str(root)],
                   check=True, capture_output=True)
    (root / name / "test_settings.py").write_text(overlay)
    return root


def parse_showmigrations(stdout: str) -> dict[tuple[str, str], bool]:
    """``manage.py showmigrations --list`` as {(app, migration): applied}."""
    out, app = {}, ""
    for line in stdout.splitlines():
        if not line.startswith(" "):
            app = line.strip()
        elif m := re.match(r"\s*\[(X| |-)\] (\S+)", line):
            out[(app, m.group(2))] = m.group(1) == "X"
    return out


def assess_project(dsn: str, project: Path, out: Path) -> dict[str, Any]:
    """``reportgen assess --project`` as a responder runs it (its own process, the framework
    detected from the project); the assessment it wrote. Exit 1 is --fail-on's, not an
    error."""
    import json

    res = subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn", dsn,
                          "--project", str(project), "--out", str(out), "--format", "md"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    return json.loads((out / "assessment.json").read_text("utf-8"))


def nothing_above_low(a: dict[str, Any]) -> bool:
    """No finding of the assessment is above LOW (INFO and LOW findings only)."""
    from reportgen.constants import LEVELS

    return all(f["severity"] not in LEVELS[1:] for f in a["findings"])


def database_checksum(dsn: str) -> str:
    """What a database holds: every relation of every schema but the system's, with its
    kind and columns, and every table's rows (a digest of their text, in order). Equal
    before and after: nothing was written."""
    import hashlib

    import psycopg
    from psycopg import sql

    h = hashlib.sha256()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rels = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind::text, coalesce((SELECT string_agg("
            "a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)"
            " FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT "
            "a.attisdropped), '') FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
            "n.nspname !~ '^pg_(toast|temp)' ORDER BY 1, 2").fetchall()
        for schema, name, kind, columns in rels:
            h.update(f"{schema}.{name}:{kind}:{columns}\n".encode())
            if kind in ("r", "p"):
                row = conn.execute(sql.SQL(
                    "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"
                ).format(sql.Identifier(schema, name))).fetchone()
                h.update(f"{row}\n".encode())
        conn.execute("ROLLBACK")
    return h.hexdigest()


def rehearse(report: Path, dsn: str, project: Path, *extra: str,
             env: dict[str, str] | None = None, cwd: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    """``reportgen rehearse`` as a responder runs it, in its own process."""
    return subprocess.run([sys.executable, "-m", "reportgen", "rehearse", str(report), "--dsn",
                           dsn, "--project", str(project), *extra], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)
