"""Real Alembic projects from PyPI, migrated by Alembic itself into a test database.

Each project is the package's own alembic.ini, env.py and versions/ (nobody here wrote
them), used as installed: a project folder holds a copy of the alembic.ini pointing at the
package's revisions and at the test database, which is where a team runs ``alembic``. The
incidents are planted by SQL a responder would recognise, or by Alembic itself (a stamp).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Real:
    name: str
    package: str
    ini: str  # the package's alembic.ini, relative to the package
    scripts: str  # its script_location, relative to the package
    #: Tables the application creates outside its revisions (before `upgrade head`), as
    #: the package itself does: (module, attribute) of a SQLAlchemy MetaData holder.
    initial: tuple[str, str] | None = None

    @property
    def root(self) -> Path:
        return Path(importlib.import_module(self.package).__file__ or "").parent


OPTUNA = Real("optuna", "optuna", "storages/_rdb/alembic.ini", "storages/_rdb/alembic")
MLFLOW = Real("mlflow", "mlflow", "store/db_migrations/alembic.ini", "store/db_migrations",
              initial=("mlflow.store.tracking.dbmodels.initial_models", "Base"))
PROJECTS = {p.name: p for p in (OPTUNA, MLFLOW)}


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def make_project(real: Real, parent: Path, dsn: str) -> Path:
    """A project folder: the package's alembic.ini with its script_location made absolute
    and sqlalchemy.url set to this database (the two lines a team's own copy differs in)."""
    folder = parent / f"{real.name}-project"
    folder.mkdir(parents=True, exist_ok=True)
    text = (real.root / real.ini).read_text("utf-8")
    text = re.sub(r"(?m)^script_location\s*=.*$",
                  lambda _: f"script_location = {real.root / real.scripts}", text)
    text = re.sub(r"(?m)^sqlalchemy\.url\s*=.*$",
                  lambda _: f"sqlalchemy.url = {sqlalchemy_url(dsn)}", text)
    (folder / "alembic.ini").write_text(text, "utf-8")
    return folder


def alembic(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Alembic's own command line, run from the project folder as a team runs it."""
    res = subprocess.run([sys.executable, "-m", "alembic", "-c", "alembic.ini", *args],
                         cwd=project, capture_output=True, text=True, timeout=600)
    if check and res.returncode != 0:
        raise AssertionError(f"alembic {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return res


def migrate(real: Real, project: Path, dsn: str) -> None:
    """What the package does to a new database: its initial tables (if any), then
    ``alembic upgrade heads``."""
    if real.initial is not None:
        code = (f"import sqlalchemy; from {real.initial[0]} import {real.initial[1]} as B; "
                f"B.metadata.create_all(sqlalchemy.create_engine({sqlalchemy_url(dsn)!r}))")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=300,
                       capture_output=True)
    alembic(project, "upgrade", "heads")


def current(project: Path) -> list[str]:
    """``alembic current``'s revisions (online: it reads alembic_version)."""
    out = alembic(project, "current").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def upgrade_runs(project: Path, start: str) -> list[str]:
    """The revisions ``alembic upgrade START:head --sql`` writes, in order (what an
    upgrade from START would run)."""
    sql = alembic(project, "upgrade", f"{start}:head", "--sql").stdout
    return re.findall(r"-- Running upgrade \S* -> (\S+)", sql)
