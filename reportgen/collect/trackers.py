"""Other migration trackers: Alembic, Flyway, Liquibase, Rails, golang-migrate, Prisma,
sqitch (its registry's changes table).

One query finds their tables in any schema; one bounded, guarded query per table found reads
what matters, including failed, dirty, locked or unfinished states. Only stored tables are
read, each in a savepoint that is rolled back; a view or foreign table of a tracker's name
is reported and left unread. Rails and golang-migrate
both use ``schema_migrations``: told apart by its ``dirty`` column.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from reportgen.bundle import TrackerEntry, TrackerSummary
from reportgen.collect.django_records import TABLE_KINDS, not_read
from reportgen.collect.queries import load
from reportgen.connection import Snapshot

#: Rows read from a tracking table. The reconciled trackers (Alembic, golang-migrate,
#: Flyway, Prisma, sqitch) compare every row with the files, so a table with more is not
#: read in part: it is reported unread (a missing row would look like a deleted record).
LIMIT = 100_000


def _q(template: str, schema: str, table: str) -> str:
    return sql.SQL(template).format(sql.Identifier(schema), sql.Identifier(table)).as_string(None)


def collect_trackers(snap: Snapshot) -> list[TrackerSummary]:
    out: list[TrackerSummary] = []
    for t in snap.query(load("trackers")):
        schema, table, cols = t["schema_name"], t["name"], set(t["columns"])
        tool = _tool(table, cols)
        base: dict[str, Any] = dict(tool=tool, schema_name=schema, table=table)
        if t["relkind"] not in TABLE_KINDS:
            out.append(TrackerSummary(**base, readable=False, error=not_read(t, table)))
            continue
        if not t["readable"]:
            out.append(TrackerSummary(**base, readable=False,
                                      error="the collecting role holds no SELECT on it"))
            continue
        reader = READERS.get(tool)
        if reader is None:
            continue
        rows, err = snap.query_guarded(_q(reader[0], schema, table), {"limit": LIMIT + 1})
        if err:
            out.append(TrackerSummary(**base, readable=False, error=err))
            continue
        if len(rows) > LIMIT:
            out.append(TrackerSummary(**base, readable=False, error=f"more than {LIMIT:,} rows: "
                                      "not read in part (a missing row would look like a "
                                      "deleted record)"))
            continue
        out.append(reader[1](base, rows))
    return out


def _tool(table: str, cols: set[str]) -> str:
    if table == "schema_migrations":
        return "golang-migrate" if "dirty" in cols else "rails"
    if table == "changes":
        return "sqitch"
    return {"alembic_version": "alembic", "flyway_schema_history": "flyway",
            "databasechangelog": "liquibase", "databasechangeloglock": "liquibase-lock",
            "ar_internal_metadata": "rails-metadata",
            "_prisma_migrations": "prisma"}[table]


def _alembic(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    """Alembic keeps one row per applied head: several rows are normal where the revision
    graph has branches, so whether they are a problem is the analyzer's to say, with the
    graph beside it."""
    heads = [r["version_num"] for r in rows]
    notes = [f"{len(heads)} rows in alembic_version: {len(heads)} heads applied (normal "
             "only where the revision graph has unmerged branches)"] if len(heads) > 1 else []
    problems = [] if heads else [
        "alembic_version is empty: Alembic considers the database unversioned"]
    return TrackerSummary(**base, rows=len(heads), current=", ".join(heads) or None,
                          problems=problems, notes=notes, versions=heads)


def _flyway_entries(rows: list[dict[str, Any]]) -> list[TrackerEntry]:
    """Versioned rows (a repeatable one has no version), the version as Flyway compares it;
    a BASELINE row stands for every version at or below it."""
    from reportgen.collect.sql_files import flyway_version

    out = []
    for r in rows:
        v = r["version"]
        if v is None or not all(p.isdigit() for p in str(v).replace("_", ".").split(".")):
            continue
        out.append(TrackerEntry(name=flyway_version(str(v)),
                                state="applied" if r["success"] else "failed",
                                checksum=None if r["checksum"] is None else str(r["checksum"]),
                                baseline=r["type"] == "BASELINE",
                                # a timestamp without time zone: in whatever zone the
                                # writer's session had, so no instant is claimed
                                at=r["installed_on"] if r["installed_on"] is not None
                                and r["installed_on"].tzinfo is not None else None))
    return out


def _flyway(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    failed = [f"version {r['version'] or '(repeatable)'} {r['description']!r} "
              f"({r['script']}) failed at {r['installed_on']:%Y-%m-%d %H:%M}"
              for r in rows if r["success"] is False]
    ok = [r for r in rows if r["success"]]
    latest = ok[-1] if ok else None
    return TrackerSummary(**base, rows=len(rows),
                          current=f"{latest['version']} {latest['description']}" if latest
                          else None,
                          latest_at=latest["installed_on"] if latest else None,
                          problems=[f"failed migration: {f}" for f in failed],
                          entries=_flyway_entries(rows))


def _liquibase(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    last = rows[0] if rows else None
    return TrackerSummary(**base, rows=len(rows),
                          current=f"{last['id']} by {last['author']} ({last['filename']}, "
                          f"{last['exectype']})" if last else None,
                          latest_at=last["dateexecuted"] if last else None, problems=[])


def _liquibase_lock(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    held = [r for r in rows if r["locked"]]
    return TrackerSummary(**base, rows=len(rows),
                          current="locked" if held else "not locked",
                          problems=[f"databasechangeloglock is held by {r['lockedby']} since "
                                    f"{r['lockgranted']}: a Liquibase run died or is still "
                                    "running" for r in held])


def _rails(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    versions = sorted((str(r["version"]) for r in rows), reverse=True)
    return TrackerSummary(**base, rows=len(versions), current=versions[0] if versions else None,
                          problems=[])


def _rails_meta(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    env = next((r["value"] for r in rows if r["key"] == "environment"), None)
    return TrackerSummary(**base, rows=len(rows), current=f"environment={env}" if env else None,
                          problems=[])


def _golang(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    cur = rows[0] if rows else None
    problems = [f"Dirty database version {r['version']}: a migration failed halfway "
                "(fix it, then `migrate force VERSION`)" for r in rows if r["dirty"]]
    if len(rows) > 1:
        problems.append(f"{len(rows)} rows in schema_migrations: golang-migrate keeps one "
                        "(it reads the first); the table was written by something else")
    return TrackerSummary(**base, rows=len(rows), current=str(cur["version"]) if cur else None,
                          problems=problems,
                          entries=[TrackerEntry(name=str(r["version"]),
                                                state="dirty" if r["dirty"] else "applied")
                                   for r in rows])


def _prisma(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    problems = [f"{r['migration_name']} started {r['started_at']:%Y-%m-%d %H:%M} and never "
                "finished (not rolled back): Prisma refuses to migrate (P3009) until "
                "`prisma migrate resolve`" for r in rows
                if r["finished_at"] is None and r["rolled_back_at"] is None]
    rolled = [r["migration_name"] for r in rows if r["rolled_back_at"] is not None]
    done = [r for r in rows if r["finished_at"] is not None and r["rolled_back_at"] is None]
    return TrackerSummary(**base, rows=len(rows),
                          current=done[-1]["migration_name"] if done else None,
                          latest_at=done[-1]["finished_at"] if done else None,
                          problems=problems,
                          notes=[f"rolled back: {', '.join(rolled)}"] if rolled else [],
                          entries=[TrackerEntry(
                              name=r["migration_name"], checksum=r["checksum"],
                              state="rolled_back" if r["rolled_back_at"] is not None else
                              "applied" if r["finished_at"] is not None else "failed",
                              at=r["finished_at"] or r["started_at"]) for r in rows])


def _sqitch(base: dict[str, Any], rows: list[dict[str, Any]]) -> TrackerSummary:
    """sqitch's registry: a row per deployed change (a failed deploy is reverted, so the
    rows are the changes in place)."""
    last = rows[-1] if rows else None
    return TrackerSummary(**base, rows=len(rows),
                          current=f"{last['project']}:{last['change']}" if last else None,
                          latest_at=last["committed_at"] if last else None,
                          entries=[TrackerEntry(name=r["change"], project=r["project"],
                                                state="applied", at=r["committed_at"])
                                   for r in rows])


READERS: dict[str, tuple[str, Any]] = {
    "alembic": ("SELECT version_num FROM {}.{} LIMIT %(limit)s", _alembic),
    "flyway": ("SELECT installed_rank, version, description, type, script, checksum, "
               "installed_on, success "
               "FROM {}.{} ORDER BY installed_rank DESC LIMIT %(limit)s", lambda b, r: _flyway(
                   b, list(reversed(r)))),
    "liquibase": ("SELECT id, author, filename, dateexecuted, exectype FROM {}.{} "
                  "ORDER BY orderexecuted DESC LIMIT %(limit)s", _liquibase),
    "liquibase-lock": ("SELECT id, locked, lockgranted, lockedby FROM {}.{} LIMIT %(limit)s",
                       _liquibase_lock),
    "rails": ("SELECT version FROM {}.{} LIMIT %(limit)s", _rails),
    "rails-metadata": ("SELECT key, value FROM {}.{} LIMIT %(limit)s", _rails_meta),
    "golang-migrate": ("SELECT version, dirty FROM {}.{} LIMIT %(limit)s", _golang),
    "sqitch": ("SELECT change, project, committed_at FROM {}.{} ORDER BY committed_at "
               "LIMIT %(limit)s", _sqitch),
    "prisma": ("SELECT migration_name, checksum, started_at, finished_at, rolled_back_at "
               "FROM {}.{} "
               "ORDER BY started_at LIMIT %(limit)s", _prisma),
}
