"""Alembic, asked about a project's revisions (issue 26, work in progress).

Run as ``python -m reportgen.collect.alembic_loader ALEMBIC_INI`` in a subprocess (the
project's env.py imports the application: never in reportgen's own process). The revision
graph comes from Alembic's own ``ScriptDirectory`` (revisions, down revisions, merges, branch
labels); each revision's schema effects from Alembic's offline mode (``upgrade A:B --sql``
through the project's own env.py, PostgreSQL dialect, no connection), read by
``sql_effects``. A revision whose offline SQL cannot be produced (its upgrade() queries the
database, env.py needs a connection) or that merges branches is unverifiable, saying why.
Prints one JSON object: {"heads": [...], "revisions": [...]}.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any


def load(ini: Path) -> dict[str, Any]:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from reportgen.collect.sql_effects import effects_of_sql

    logging.disable(logging.CRITICAL)  # env.py's fileConfig: nothing on our stdout/stderr
    base = Config(str(ini))
    location = base.get_main_option("script_location") or "alembic"
    where = Path(location) if Path(location).is_absolute() else ini.parent / location
    script = ScriptDirectory.from_config(_config(ini, where, io.StringIO()))
    revisions: list[dict[str, Any]] = []
    for rev in reversed(list(script.walk_revisions())):  # base first
        down = rev.down_revision
        downs = [down] if isinstance(down, str) else list(down or ())
        entry: dict[str, Any] = {
            "app": "alembic", "name": rev.revision,
            "path": str(Path(rev.path).resolve().relative_to(where.resolve().parent))
            if rev.path else "", "dependencies": [["alembic", d] for d in downs],
            "operations": [], "creates": None, "removes": None, "unverifiable": []}
        if len(downs) > 1:
            entry["unverifiable"].append("a merge of branches: its own effects cannot be "
                                         "told from its branches' in offline mode")
        else:
            buf = io.StringIO()
            try:
                command.upgrade(_config(ini, where, buf),
                                f"{downs[0]}:{rev.revision}" if downs else rev.revision,
                                sql=True)
            except Exception as exc:  # the revision's own code: anything may fail offline
                entry["unverifiable"].append(
                    f"offline mode could not write its SQL ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''})")
            else:
                found = effects_of_sql(buf.getvalue())
                entry["creates"] = [o.model_dump() for o in found.creates]
                entry["removes"] = [o.model_dump() for o in found.removes]
                entry["unverifiable"] += found.unverifiable
        revisions.append(entry)
    return {"heads": list(script.get_heads()), "revisions": revisions}


def _config(ini: Path, where: Path, buf: io.StringIO) -> Any:
    from alembic.config import Config

    cfg = Config(str(ini), output_buffer=buf)
    cfg.set_main_option("script_location", str(where))
    cfg.set_main_option("sqlalchemy.url", "postgresql://")  # offline: the dialect only
    return cfg


if __name__ == "__main__":
    out = sys.stdout
    sys.stdout = sys.stderr  # env.py and revisions may print: only the JSON goes out
    json.dump(load(Path(sys.argv[1]).resolve()), out)
