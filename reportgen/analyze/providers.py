"""What each hosting provider offers for a point-in-time restore, as data: one entry per
provider (its name, what a restored copy is called, how far back it can go, the commands
that restore into a NEW copy, what they cost). ``recovery._pitr`` reads the entry; adding a
provider is adding an entry (and its test).

Commands are built from ``RestoreArgs``: every word goes through ``shell_command`` (quoted
for the shell); a ``Placeholder`` is a word the responder fills in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reportgen.quoting import Placeholder as P
from reportgen.quoting import shell_command as sh


@dataclass(frozen=True)
class RestoreArgs:
    endpoint: str  # production's endpoint as printed in prose ("<instance>" when unknown)
    ep: str  # the same as a command word (a Placeholder when unknown)
    stamp: str  # the restore point, ISO 8601 UTC
    day: str  # the restore point for names: 20260201-1429
    when: datetime | None

    def named(self, suffix: str) -> str:
        """A new instance's name from production's: a placeholder stays a placeholder."""
        return P(self.ep + suffix) if isinstance(self.ep, P) else self.ep + suffix


@dataclass(frozen=True)
class Restore:
    name: str  # as a reader knows it
    noun: str  # what a restored copy is: branch, instance, cluster, server...
    max_window_days: float | None  # the longest window it offers (None: depends on setup)
    window_note: str
    title: str  # may name {endpoint}
    cons: tuple[str, ...]
    commands: Callable[[RestoreArgs], list[str]] = lambda a: []
    #: A step inserted after the first (what to know before running the commands).
    step: Callable[[RestoreArgs], str] | None = None
    #: Without commands: where in the provider's console the restore is done.
    console: str | None = None
    #: What the action plan's prevention phase asks of this provider, if anything.
    prevent: str | None = None
    aliases: tuple[str, ...] = field(default=())


def _neon(a: RestoreArgs) -> list[str]:
    return [sh("neon", "branches", "create", "--project-id", P("<PROJECT_ID>"), "--name",
               f"restore-{a.day}", "--parent", a.stamp),
            sh("neon", "connection-string", f"restore-{a.day}", "--project-id",
               P("<PROJECT_ID>"))]


def _aurora(a: RestoreArgs) -> list[str]:
    return [sh("aws", "rds", "restore-db-cluster-to-point-in-time",
               "--source-db-cluster-identifier", a.ep, "--db-cluster-identifier",
               a.named(f"-restore-{a.day}"), "--restore-to-time", a.stamp),
            sh("aws", "rds", "create-db-instance", "--db-cluster-identifier",
               a.named(f"-restore-{a.day}"), "--db-instance-identifier",
               a.named(f"-restore-{a.day}-1"), "--engine", "aurora-postgresql",
               "--db-instance-class", P("<CLASS>"))]


def _rds(a: RestoreArgs) -> list[str]:
    return [sh("aws", "rds", "describe-db-instances", "--db-instance-identifier", a.ep,
               "--query", "DBInstances[0].LatestRestorableTime"),
            sh("aws", "rds", "restore-db-instance-to-point-in-time",
               "--source-db-instance-identifier", a.ep, "--target-db-instance-identifier",
               a.named(f"-restore-{a.day}"), "--restore-time", a.stamp)]


def _heroku(a: RestoreArgs) -> list[str]:
    return [sh("heroku", "pg:info", "--app", P("<APP>")),
            sh("heroku", "addons:create", P("heroku-postgresql:<PLAN>"), "--rollback",
               "DATABASE_URL", "--to",
               f"{a.when:%Y-%m-%d %H:%M}+00" if a.when else P("'<TIME>'"), "--app",
               P("<APP>"))]


def _self_hosted(a: RestoreArgs) -> list[str]:
    conf = "<RESTORED_DATADIR>/postgresql.auto.conf"
    return [f"echo \"restore_command = 'cp /path/to/wal_archive/%f %p'\" >> {conf}",
            f"echo \"recovery_target_time = '{a.stamp}'\" >> {conf}",
            f"echo \"recovery_target_action = 'promote'\" >> {conf}",
            "touch <RESTORED_DATADIR>/recovery.signal",
            "pg_ctl -D <RESTORED_DATADIR> start"]


_NEW_INSTANCE_COST = ("A new instance takes minutes to hours to become available, and costs "
                      "while it runs.")

RESTORES: dict[str, Restore] = {r.aliases[0]: r for r in [
    Restore("Neon", "branch", 30,
            "history retention: Free 6 hours; Launch 1 day by default, up to 7; Scale 1 day "
            "by default, up to 30 (project setting)",
            "Neon point-in-time branch (production endpoint {endpoint})",
            ("Only inside the project's history retention window.",
             "A new branch has its own compute and cost."), _neon,
            step=lambda a: (f"`--parent <timestamp>` branches from the project's default "
                            f"branch. If production (endpoint {a.endpoint}) is another "
                            "branch, create the branch in the Console (Branches → Create "
                            "branch → past data) or via the API with parent_id and "
                            "parent_timestamp."),
            prevent="Protect the production branch in Neon and keep the history retention "
                    "window long enough to restore.",
            aliases=("neon",)),
    Restore("AWS RDS", "instance", 35,
            "bounded by the backup retention period (up to 35 days) and LatestRestorableTime",
            "AWS RDS point-in-time restore to a new instance", (_NEW_INSTANCE_COST,), _rds,
            aliases=("rds",)),
    Restore("Aurora", "cluster", 35, "bounded by the backup retention period (up to 35 days)",
            "Aurora point-in-time restore to a new cluster", (_NEW_INSTANCE_COST,), _aurora,
            aliases=("aurora",)),
    Restore("Cloud SQL", "instance", 35,
            "bounded by the instance's transaction-log retention (7 days by default, up to "
            "35 on Enterprise Plus)",
            "Cloud SQL point-in-time clone to a new instance",
            ("The clone is a full new instance (same project and settings).",),
            lambda a: [sh("gcloud", "sql", "instances", "clone", a.ep,
                          a.named(f"-restore-{a.day}"), f"--point-in-time={a.stamp}")],
            aliases=("cloudsql",)),
    Restore("Azure", "server", 35,
            "bounded by the server's backup retention (7 days by default, up to 35)",
            "Azure Database for PostgreSQL point-in-time restore to a new server",
            ("A new server is provisioned (minutes to hours).",),
            lambda a: [sh("az", "postgres", "flexible-server", "restore", "--resource-group",
                          P("<RESOURCE_GROUP>"), "--name", a.named(f"-restore-{a.day}"),
                          "--source-server", a.ep, "--restore-time",
                          a.stamp.replace("Z", "+00:00"))],
            aliases=("azure",)),
    Restore("Heroku", "database", 7,
            "rollback availability depends on the plan (a few days to a week): "
            "`heroku pg:info` shows 'Rollback: from ...'",
            "Heroku Postgres rollback into a new database",
            ("The rollback database is a new add-on, billed while it exists.",), _heroku,
            aliases=("heroku",)),
    Restore("Supabase", "instance", 28, "needs the PITR add-on (7, 14 or 28 days)",
            "Point-in-time restore into a new copy",
            ("Availability depends on the provider's backup settings.",),
            console="Supabase (Dashboard → Database → Backups → point in time; choose "
                    "restoring to a new project where offered)",
            aliases=("supabase",)),
    Restore("Crunchy Bridge", "instance", None, "bounded by the cluster's backup retention",
            "Point-in-time restore into a new copy",
            ("Availability depends on the provider's backup settings.",),
            console="Crunchy Bridge (fork the cluster at a point in time)",
            aliases=("crunchybridge",)),
    Restore("self-hosted", "server", None,
            "bounded by the oldest base backup and a continuous WAL archive",
            "PostgreSQL point-in-time recovery on a separate host",
            ("Needs a base backup and a continuous WAL archive covering the restore time.",),
            _self_hosted,
            step=lambda a: ("On a spare host, restore the latest base backup taken before "
                            "the restore point into <RESTORED_DATADIR>, then run the commands "
                            "below."),
            aliases=("self-hosted",)),
    Restore("unknown", "instance", None, "bounded by the provider's backup retention",
            "Point-in-time restore into a new copy",
            ("Availability depends on the provider's backup settings.",),
            console="your provider's point-in-time restore", aliases=("unknown",)),
]}


def restore_for(provider: str) -> Restore:
    return RESTORES.get(provider, RESTORES["unknown"])
