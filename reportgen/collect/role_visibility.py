"""What the roles a server log shows listing tables could see (``--server-log``): a script
that listed no tables may have asked information_schema as a role that holds no privilege on
them. Read in the snapshot, for at most MAX_ROLES roles (names from the log are parameters,
never SQL)."""

from __future__ import annotations

from reportgen.bundle import RoleVisibility, ServerLog
from reportgen.collect.queries import load
from reportgen.connection import Snapshot

MAX_ROLES = 20


def catalog_roles(log: ServerLog, database: str | None) -> list[str]:
    """The roles of the log's catalog queries in this database (or naming none)."""
    roles = sorted({e.user for e in log.events if e.kind == "CATALOG QUERY" and e.user
                    and (e.database is None or database is None or e.database == database)})
    return roles[:MAX_ROLES]


def collect_role_visibility(snap: Snapshot, roles: list[str]) -> list[RoleVisibility]:
    if not roles:
        return []
    return [RoleVisibility(**row) for row in snap.query(load("role_visibility"),
                                                        {"roles": roles})]
