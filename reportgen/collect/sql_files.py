"""SQL-file migrations: golang-migrate (``NNN_name.up.sql``), Flyway (``V<ver>__name.sql``),
Prisma (``migrations/<name>/migration.sql``) and sqitch (``sqitch.plan`` and
``deploy/<change>.sql``), read from disk, never run.

Each migration's effects come from its SQL, read with PostgreSQL's own grammar
(``sql_effects``), into the bundle's ``SchemaObject`` form, the same as the other readers
write; the analyzer compares them with the catalog. The order is the tool's own: golang-
migrate applies versions in numeric order (gaps allowed), Prisma folder names in sorted
order, sqitch its plan's order. Each migration depends on the one before it, so "order is
evidence" holds as for the other frameworks. A migration is atomic when PostgreSQL runs it
as one transaction: golang-migrate and Prisma send a file as one multi-statement query, which
PostgreSQL runs as one implicit transaction, and sqitch's scripts wrap themselves in BEGIN
and COMMIT; unless the file commits in between or holds a statement that cannot run in a
transaction block (CREATE INDEX CONCURRENTLY, VACUUM).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from reportgen.bundle import Codebase, MigrationFile

GOLANG_FILE = re.compile(r"^(?P<v>\d+)_(?P<title>.*)\.up\.sql$")
_SKIP = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", "dist", "build",
         ".venv", "venv", "site-packages", "vendor"}
DEPTH = 6  # src/main/resources/db/migration, as Spring lays Flyway out


def find_sql_migrations(root: Path) -> list[tuple[str, Path]]:
    """(framework, folder) of each SQL migration folder under ``root``: golang-migrate where
    a folder holds ``NNN_*.up.sql`` files, prisma where a ``migrations`` folder holds
    ``migration_lock.toml`` or ``<name>/migration.sql`` folders."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        level = len(here.relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith(".")
                             and level < DEPTH)
        if "sqitch.plan" in filenames and (here / "deploy").is_dir():
            found.append(("sqitch", here / "sqitch.plan"))
            dirnames[:] = []
        elif any(GOLANG_FILE.match(f) for f in filenames):
            found.append(("golang-migrate", here))
        elif any(FLYWAY_FILE.match(f) for f in filenames):
            found.append(("flyway", here))
        elif here.name == "migrations" and ("migration_lock.toml" in filenames or any(
                (here / d / "migration.sql").is_file() for d in dirnames)):
            found.append(("prisma", here))
            dirnames[:] = []
    return found


#: A change line of sqitch.plan: name, optional [dependencies], time, planner, # note.
SQITCH_CHANGE = re.compile(r"^(?P<name>[^\s@#:%\[\]]+)\s+(?:\[(?P<deps>[^\]]*)\]\s+)?"
                           r"(?P<at>\d{4}-\d\d-\d\dT\S+)\s+(?P<who>.*?)"
                           r"(?:\s+#\s?(?P<note>.*))?$")


def read_sqitch(plan: Path, root: Path) -> Codebase:
    """sqitch.plan's changes in plan order (the order ``sqitch deploy`` follows), each
    depending on the one before and on what it requires from its own project; the effects
    from deploy/<change>.sql. A change planned twice (reworked) is read at its latest."""
    from reportgen.collect.sql_effects import effects_of_sql

    top = plan.parent
    deploy = top / "deploy"
    out: list[MigrationFile] = []
    errors: list[str] = []
    seen: set[str] = set()
    project = None
    for n, line in enumerate(plan.read_text("utf-8").splitlines(), 1):
        text = line.strip()
        if text.startswith("%project="):
            project = text.split("=", 1)[1].strip()
        if not text or text.startswith(("%", "#", "@")):
            continue
        m = SQITCH_CHANGE.match(text)
        if m is None:
            errors.append(f"{plan.relative_to(root)}:{n}: not a change line sqitch writes")
            continue
        name = m["name"]
        if name in seen:
            errors.append(f"{plan.relative_to(root)}:{n}: {name} is reworked; only its "
                          "latest deploy script is read")
            out = [x for x in out if x.name != name]
        seen.add(name)
        requires = [d.strip() for d in (m["deps"] or "").split() if d.strip()
                    and not d.startswith("!") and ":" not in d]
        path = deploy / f"{name}.sql"
        rel = str(path.relative_to(root))
        try:
            raw = path.read_bytes()
            found = effects_of_sql(raw.decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{rel}: cannot read ({type(exc).__name__})")
            continue
        deps = ([("sqitch", out[-1].name)] if out else []) + [
            ("sqitch", d.split("@")[0]) for d in requires]
        out.append(MigrationFile(
            app="sqitch", name=name, title=(m["note"] or "").strip() or None, path=rel,
            dependencies=list(dict.fromkeys(deps)), operations=[], creates=found.creates,
            removes=found.removes, unverifiable=found.unverifiable,
            # psql runs a script statement by statement: one transaction only if it says so
            atomic=found.atomic and found.wrapped, noop=not found.statements,
            checksum=hashlib.sha1(raw).hexdigest()))
    return Codebase(root=str(root), framework="sqitch", method=METHOD, project=project,
                    config=str(plan.relative_to(root)), migrations=out, errors=errors,
                    plan=[("sqitch", m.name) for m in out])


#: Flyway's versioned SQL migrations: V<version>__<description>.sql ("_" in the version is a
#: "."); repeatable ones (R__) run whenever they change and are listed, not reconciled.
FLYWAY_FILE = re.compile(r"^V(?P<v>\d+(?:[._]\d+)*)__(?P<title>.+)\.sql$")


def flyway_version(text: str) -> str:
    """A version as Flyway compares it: its numeric parts ("1_10" and "01.10" are 1.10)."""
    return ".".join(str(int(p)) for p in re.split(r"[._]", text))


def flyway_checksum(raw: bytes) -> int:
    """Flyway's checksum of a migration file: CRC-32 over the UTF-8 bytes of each line,
    line endings left out and a leading byte-order mark dropped, as a signed 32-bit integer
    (its ChecksumCalculator, through Java's BufferedReader.readLine)."""
    import zlib

    text = raw.decode("utf-8").removeprefix("\ufeff")
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def read_flyway(folder: Path, root: Path) -> Codebase:
    files = sorted(((flyway_version(m["v"]), m["title"], folder / f) for f in os.listdir(folder)
                    if (m := FLYWAY_FILE.match(f))),
                   key=lambda x: tuple(int(p) for p in x[0].split(".")))
    migrations, errors = _chain("flyway", files, root)
    for mig in migrations:
        mig.checksum = str(flyway_checksum((root / mig.path).read_bytes()))
    repeatable = sorted(f for f in os.listdir(folder) if f.startswith("R__") and f.endswith(".sql"))
    if repeatable:
        errors.append(f"{len(repeatable)} repeatable migration(s) (R__*.sql) not reconciled: "
                      "Flyway re-runs them when they change")
    return Codebase(root=str(root), framework="flyway", method=METHOD,
                    config=str(folder.relative_to(root)), migrations=migrations, errors=errors,
                    plan=[("flyway", m.name) for m in migrations])


def read_golang(folder: Path, root: Path) -> Codebase:
    files = sorted(((int(m["v"]), m["title"], folder / f) for f in os.listdir(folder)
                    if (m := GOLANG_FILE.match(f))), key=lambda x: x[0])
    migrations, errors = _chain("golang-migrate", [(str(v), title, path)
                                                   for v, title, path in files], root)
    seen: dict[int, str] = {}
    for v, _, path in files:  # golang-migrate refuses two files of one version
        if v in seen:
            errors.append(f"{path.relative_to(root)}: version {v} also in {seen[v]} "
                          "(golang-migrate stops on a duplicate version)")
        seen[v] = str(path.relative_to(root))
    return Codebase(root=str(root), framework="golang-migrate", method=METHOD,
                    config=str(folder.relative_to(root)), migrations=migrations, errors=errors,
                    plan=[("golang-migrate", m.name) for m in migrations])


def read_prisma(folder: Path, root: Path) -> Codebase:
    names = sorted(d for d in os.listdir(folder) if (folder / d / "migration.sql").is_file())
    migrations, errors = _chain("prisma", [(n, n.split("_", 1)[-1], folder / n /
                                            "migration.sql") for n in names], root)
    return Codebase(root=str(root), framework="prisma", method=METHOD,
                    config=str(folder.relative_to(root)), migrations=migrations, errors=errors,
                    plan=[("prisma", m.name) for m in migrations])


METHOD = "migration files' SQL read with PostgreSQL's grammar (pglast), in the tool's order"


def _chain(app: str, files: list[tuple[str, str, Path]], root: Path
           ) -> tuple[list[MigrationFile], list[str]]:
    from reportgen.collect.sql_effects import effects_of_sql

    out: list[MigrationFile] = []
    errors: list[str] = []
    prev: str | None = None
    for name, title, path in files:
        rel = str(path.relative_to(root))
        try:
            raw = path.read_bytes()
            sql = raw.decode("utf-8-sig")  # a byte-order mark is not SQL (the tools drop it)
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{rel}: cannot read ({type(exc).__name__})")
            continue
        found = effects_of_sql(sql)
        out.append(MigrationFile(
            app=app, name=name, title=title.replace("_", " ") or None, path=rel,
            dependencies=[(app, prev)] if prev is not None else [], operations=[],
            creates=found.creates, removes=found.removes, unverifiable=found.unverifiable,
            atomic=found.atomic, noop=not found.statements,
            checksum=hashlib.sha256(raw).hexdigest()))
        prev = name
    return out, errors
