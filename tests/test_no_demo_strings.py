"""Nothing of the demo incident steers code outside reportgen/demo/: none of its app names,
table names, script names, host, role or timeline phrases appears in the library, its SQL or
its templates (they are taken from the demo itself, not listed by hand)."""

from __future__ import annotations

import re
from pathlib import Path

from reportgen.demo import scenario
from reportgen.demo.run import DEMO_DB, DEMO_HOST, DEMO_ROLE

ROOT = Path(__file__).resolve().parents[1]


def _demo_strings() -> set[str]:
    s = scenario.build()
    words = {m.app for m in s.migrations} | {m.table for m in s.models.values()}
    words |= {DEMO_DB, DEMO_HOST, DEMO_ROLE, DEMO_HOST.split(".")[0]}
    words |= {Path(p).stem for p in scenario.codebase_files(s) if not p.startswith("apps/")
              and p.endswith(".py")}
    timeline = scenario.timeline_csv()
    # script names the responder typed (Django's own manage.py is not the demo's)
    words |= set(re.findall(r"\b\w+\.py\b", timeline)) - {"manage.py"}
    words |= {q for q in re.findall(r"'([^']+)'", timeline) if len(q) > 6}  # quoted phrases
    return {w for w in words if len(w) > 4}


def test_no_demo_string_outside_the_demo():
    words = _demo_strings()
    assert {"organizations", "check_tables", "Found 0 tables"} <= words  # the list is real
    files = [p for p in (ROOT / "reportgen").rglob("*") if p.suffix in (".py", ".sql")
             and "demo" not in p.relative_to(ROOT / "reportgen").parts]
    files += [p for p in (ROOT / "templates").rglob("*") if p.is_file() and "fonts" not in
              p.parts]
    hits = [(str(p.relative_to(ROOT)), w) for p in files
            for w in words if w.lower() in p.read_text("utf-8").lower()]
    assert hits == []
