"""SQL-file migration projects for golang-migrate and Prisma, and the tools' own bookkeeping.

Neither tool's command line can be installed here: golang-migrate is a Go binary on no
registry this machine reaches, and Prisma's npm package downloads its schema engine from
binaries.prisma.sh at run time. So the tests drive the tracker tables exactly as the tools'
own code does, written down from their sources:

- golang-migrate's postgres driver: ``SetVersion(v, dirty)`` is ``TRUNCATE`` then ``INSERT
  (version, dirty)`` in one transaction; ``up`` runs, per file above the current version,
  ``SetVersion(v, true)``, the file as one query, ``SetVersion(v, false)``; ``force v`` is
  ``SetVersion(v, false)``; a dirty version stops ``up``.
- Prisma's schema engine: ``deploy`` refuses while a row is neither finished nor rolled back
  (P3009), and per migration without a finished row inserts a started row (uuid, sha-256 of
  migration.sql, started_at), runs the script, then sets finished_at and
  applied_steps_count = 1; a failed script leaves its row unfinished with its logs.

No registry package was found that ships a migration set in either layout, so the sets below
are written for the tests: a small shop's history with a gap in golang-migrate's versions, a
data-only migration, foreign keys and indexes, in each tool's own file layout and SQL style
(Prisma's: quoted CamelCase names, named constraints).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from pathlib import Path

import psycopg

GOLANG = {
    "000001_create_users": "CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n"
                           "  email text NOT NULL UNIQUE,\n"
                           "  created_at timestamptz NOT NULL DEFAULT now()\n);\n",
    "000002_create_orders": "CREATE TABLE orders (\n  id bigserial PRIMARY KEY,\n"
                            "  user_id bigint NOT NULL REFERENCES users (id),\n"
                            "  total_cents integer NOT NULL\n);\n"
                            "CREATE INDEX orders_user_id_idx ON orders (user_id);\n",
    "000004_add_order_status": "ALTER TABLE orders ADD COLUMN status text NOT NULL "
                               "DEFAULT 'new';\n",
    "000005_backfill_status": "UPDATE orders SET status = 'paid' WHERE total_cents > 0;\n",
    "000006_create_payments": "BEGIN;\nCREATE TABLE payments (\n  id bigserial PRIMARY KEY,\n"
                              "  order_id bigint NOT NULL REFERENCES orders (id),\n"
                              "  amount_cents integer NOT NULL\n);\n"
                              "CREATE INDEX payments_order_id_idx ON payments (order_id);\n"
                              "COMMIT;\n",
    "000007_add_user_name": "ALTER TABLE users ADD COLUMN display_name text;\n"
                            "CREATE INDEX users_display_name_idx ON users (display_name);\n",
}

PRISMA = {
    "20260105093000_init": 'CREATE TABLE "User" (\n    "id" SERIAL NOT NULL,\n'
                           '    "email" TEXT NOT NULL,\n    "name" TEXT,\n\n'
                           '    CONSTRAINT "User_pkey" PRIMARY KEY ("id")\n);\n\n'
                           '-- CreateIndex\nCREATE UNIQUE INDEX "User_email_key" ON "User"'
                           '("email");\n',
    "20260112141500_posts": '-- CreateTable\nCREATE TABLE "Post" (\n    "id" SERIAL NOT NULL,\n'
                            '    "title" TEXT NOT NULL,\n    "authorId" INTEGER NOT NULL,\n\n'
                            '    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")\n);\n\n'
                            '-- AddForeignKey\nALTER TABLE "Post" ADD CONSTRAINT '
                            '"Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"'
                            '("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n',
    "20260120080000_publish_flag": '-- AlterTable\nALTER TABLE "Post" ADD COLUMN "published" '
                                   'BOOLEAN NOT NULL DEFAULT false;\n',
    "20260201110000_comments": '-- CreateTable\nCREATE TABLE "Comment" (\n'
                               '    "id" SERIAL NOT NULL,\n    "postId" INTEGER NOT NULL,\n'
                               '    "body" TEXT NOT NULL,\n\n'
                               '    CONSTRAINT "Comment_pkey" PRIMARY KEY ("id")\n);\n\n'
                               '-- CreateIndex\nCREATE INDEX "Comment_postId_idx" ON "Comment"'
                               '("postId");\n',
}


def write_golang(parent: Path) -> Path:
    """A Go service's repository: db/migrations/NNN_name.up.sql and .down.sql."""
    folder = parent / "db" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in GOLANG.items():
        (folder / f"{name}.up.sql").write_text(sql, "utf-8")
        (folder / f"{name}.down.sql").write_text("-- down\n", "utf-8")
    return parent


def write_prisma(parent: Path) -> Path:
    """A Node service: prisma/migrations/<name>/migration.sql and migration_lock.toml."""
    folder = parent / "prisma" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "migration_lock.toml").write_text('provider = "postgresql"\n', "utf-8")
    for name, sql in PRISMA.items():
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "migration.sql").write_text(sql, "utf-8")
    return parent


# --- golang-migrate's postgres driver ---------------------------------------------------------


def golang_versions(project: Path) -> list[tuple[int, Path]]:
    folder = project / "db" / "migrations"
    return sorted((int(m[1]), folder / f) for f in (p.name for p in folder.iterdir())
                  if (m := re.match(r"^(\d+)_.*\.up\.sql$", f)))


def set_version(dsn: str, version: int, dirty: bool) -> None:
    with psycopg.connect(dsn) as conn:  # one transaction, as the driver's SetVersion
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(version bigint not null primary key, dirty boolean not null)")
        conn.execute("TRUNCATE schema_migrations")
        if version >= 0 or dirty:
            conn.execute("INSERT INTO schema_migrations (version, dirty) VALUES (%s, %s)",
                          (version, dirty))


def golang_version(dsn: str) -> tuple[int, bool] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT version, dirty FROM schema_migrations LIMIT 1").fetchone()
    return (int(row[0]), bool(row[1])) if row else None


def golang_up(dsn: str, project: Path, *, to: int | None = None,
              fail_at: int | None = None) -> list[int]:
    """``migrate up``: the versions it ran. ``fail_at``: that file's run fails after its
    statements (as a lock timeout would), inside the one query."""
    cur = golang_version(dsn) if _has(dsn, "schema_migrations") else None
    if cur is not None and cur[1]:
        raise RuntimeError(f"Dirty database version {cur[0]}. Fix and force version.")
    ran = []
    for v, path in golang_versions(project):
        if (cur is not None and v <= cur[0]) or (to is not None and v > to):
            continue
        set_version(dsn, v, True)
        sql = path.read_text("utf-8") + ("\nSELECT 1/0;" if v == fail_at else "")
        with psycopg.connect(dsn, autocommit=True) as conn:
            try:
                conn.execute(sql.encode())  # one query: one implicit transaction
            except psycopg.Error as exc:
                raise RuntimeError(f"migration {v} failed: {exc}") from None
        set_version(dsn, v, False)
        ran.append(v)
    return ran


# --- Prisma's schema engine -------------------------------------------------------------------


PRISMA_TABLE = """CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"))"""


def prisma_status(dsn: str, project: Path) -> tuple[list[str], list[str]]:
    """(not yet applied, failed) as ``prisma migrate status`` lists them."""
    names = sorted(p.parent.name for p in (project / "prisma" / "migrations")
                   .glob("*/migration.sql"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute('SELECT migration_name, finished_at, rolled_back_at '
                            'FROM "_prisma_migrations"').fetchall()
    applied = {n for n, f, r in rows if f is not None and r is None}
    failed = sorted({n for n, f, r in rows if f is None and r is None})
    return [n for n in names if n not in applied], failed


def prisma_deploy(dsn: str, project: Path, *, fail_at: str | None = None,
                  unfinished: str | None = None) -> list[str]:
    """``prisma migrate deploy``: the migrations it ran. ``fail_at``: that script fails
    after its statements; ``unfinished``: that script runs whole but the process dies before
    its row is finished."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PRISMA_TABLE)
    pending, failed = prisma_status(dsn, project)
    if failed:
        raise RuntimeError(f"P3009: migrate found failed migrations: {', '.join(failed)}")
    ran: list[str] = []
    for name in pending:
        path = project / "prisma" / "migrations" / name / "migration.sql"
        script = path.read_bytes()
        row = str(uuid.uuid4())
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, '
                         'started_at) VALUES (%s, %s, %s, now())',
                         (row, hashlib.sha256(script).hexdigest(), name))
            try:
                conn.execute(script + (b"\nSELECT 1/0;" if name == fail_at else b""))
            except psycopg.Error as exc:
                conn.execute('UPDATE "_prisma_migrations" SET logs = %s WHERE id = %s',
                             (str(exc), row))
                raise RuntimeError(f"P3018: {name} failed: {exc}") from None
            if name == unfinished:
                return [*ran, name]
            conn.execute('UPDATE "_prisma_migrations" SET finished_at = now(), '
                         'applied_steps_count = 1 WHERE id = %s', (row,))
        ran.append(name)
    return ran


def _has(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


# --- sqitch (its own command line: Debian's sqitch package) -----------------------------------

SQITCH_PLAN = """%syntax-version=1.0.0
%project=flipr
%uri=https://example.org/flipr/

users 2026-01-05T09:30:00Z Ana Lima <ana@example.org> # Creates table to track our users.
flips [users] 2026-01-06T10:00:00Z Ana Lima <ana@example.org> # Adds table for storing flips.
@v1.0 2026-01-07T12:00:00Z Ana Lima <ana@example.org> # Tag v1.0.
seed_admin [users] 2026-01-09T08:15:00Z Ana Lima <ana@example.org> # Seeds the admin user.
flips_nickname_idx [flips] 2026-01-12T16:40:00Z Ana Lima <ana@example.org> # Indexes flips.
user_email [users] 2026-01-20T11:05:00Z Ana Lima <ana@example.org> # Adds users.email.
"""
SQITCH_DEPLOY = {
    "users": "CREATE TABLE users (\n    nickname TEXT PRIMARY KEY,\n"
             "    password TEXT NOT NULL,\n"
             "    timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW()\n);",
    "flips": "CREATE TABLE flips (\n    id BIGSERIAL PRIMARY KEY,\n"
             "    nickname TEXT NOT NULL REFERENCES users(nickname),\n"
             "    body TEXT NOT NULL DEFAULT '' CHECK ( length(body) <= 180 ),\n"
             "    timestamp TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()\n);",
    "seed_admin": "INSERT INTO users (nickname, password) VALUES ('admin', md5('x'));",
    "flips_nickname_idx": "CREATE INDEX flips_nickname_idx ON flips (nickname);",
    "user_email": "ALTER TABLE users ADD COLUMN email TEXT;",
}


def write_sqitch(parent: Path, extra: str | None = None) -> Path:
    """A sqitch project as ``sqitch init`` and ``sqitch add`` lay it out; each script wraps
    itself in BEGIN and COMMIT, as sqitch's templates do. ``extra``: one more change at the
    end of the plan (deployed, then gone from the plan: another branch's change)."""
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "sqitch.conf").write_text("[core]\n\tengine = pg\n", "utf-8")
    plan = SQITCH_PLAN + (f"{extra} 2026-02-01T09:00:00Z Bo Chen <bo@example.org> # Branch.\n"
                          if extra else "")
    (parent / "sqitch.plan").write_text(plan, "utf-8")
    deploy = dict(SQITCH_DEPLOY, **({extra: "CREATE TABLE audit (id int);"} if extra else {}))
    for kind in ("deploy", "revert", "verify"):
        (parent / kind).mkdir(exist_ok=True)
    for name, sql in deploy.items():
        (parent / "deploy" / f"{name}.sql").write_text(
            f"-- Deploy flipr:{name} to pg\n\nBEGIN;\n\n{sql}\n\nCOMMIT;\n", "utf-8")
        (parent / "revert" / f"{name}.sql").write_text(
            f"-- Revert flipr:{name} from pg\n\nBEGIN;\n\nSELECT 1;\n\nCOMMIT;\n", "utf-8")
        (parent / "verify" / f"{name}.sql").write_text(
            f"-- Verify flipr:{name} on pg\n\nBEGIN;\n\nROLLBACK;\n", "utf-8")
    return parent


def sqitch(project: Path, dsn: str, *args: str, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
    """sqitch's own command line against this database (SQITCH_TARGET, its own variable)."""
    env = {**os.environ, "SQITCH_TARGET": "db:" + dsn.replace("postgresql://", "pg://", 1),
           "SQITCH_FULLNAME": "reportgen tests", "SQITCH_EMAIL": "tests@example.org"}
    res = subprocess.run(["sqitch", *args], cwd=project, capture_output=True, text=True,
                         env=env, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"sqitch {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res


def sqitch_target(dsn: str) -> str:
    return "db:" + dsn.replace("postgresql://", "pg://", 1)


# --- Flyway (its code's bookkeeping: flyway is a Java tool on no registry reachable here) ------

FLYWAY = {
    "V1__create_accounts.sql": "CREATE TABLE accounts (\n    id BIGSERIAL PRIMARY KEY,\n"
                               "    owner TEXT NOT NULL,\n"
                               "    balance_cents BIGINT NOT NULL DEFAULT 0\n);\n",
    "V1_1__add_account_email.sql": "ALTER TABLE accounts ADD COLUMN email TEXT;\r\n"
                                   "CREATE UNIQUE INDEX accounts_email_key ON accounts "
                                   "(email);\r\n",
    "V2__create_transfers.sql": "\ufeffCREATE TABLE transfers (\n    id BIGSERIAL PRIMARY KEY,\n"
                                "    from_id BIGINT NOT NULL REFERENCES accounts (id),\n"
                                "    to_id BIGINT NOT NULL REFERENCES accounts (id),\n"
                                "    amount_cents BIGINT NOT NULL\n);\n",
    "V3__seed_house_account.sql": "INSERT INTO accounts (owner) VALUES ('house');\n",
    "V4__transfer_notes.sql": "ALTER TABLE transfers ADD COLUMN note TEXT;\n",
}
FLYWAY_TABLE = """CREATE TABLE IF NOT EXISTS flyway_schema_history (
    installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER,
    installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(),
    execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL,
    CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank))"""


def write_flyway(parent: Path) -> Path:
    """A Spring Boot service: src/main/resources/db/migration/V<version>__<name>.sql (one
    file with CRLF line ends, one with a byte-order mark: Flyway's checksum ignores both)."""
    folder = parent / "src" / "main" / "resources" / "db" / "migration"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in FLYWAY.items():
        (folder / name).write_bytes(sql.encode("utf-8"))
    return parent


def _flyway_files(project: Path) -> list[tuple[tuple[int, ...], str, Path]]:
    from reportgen.collect.sql_files import FLYWAY_FILE, flyway_version

    folder = project / "src" / "main" / "resources" / "db" / "migration"
    out = []
    for p in folder.iterdir():
        m = FLYWAY_FILE.match(p.name)
        if m:
            v = flyway_version(m["v"])
            out.append((tuple(int(x) for x in v.split(".")), v, p))
    return sorted(out)


def flyway_info(dsn: str, project: Path) -> tuple[list[str], list[str], list[str]]:
    """(pending, failed, checksum mismatches) as `flyway info` and `validate` see them:
    pending is every file above the highest successful or baseline version."""
    from reportgen.collect.sql_files import flyway_checksum, flyway_version

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FLYWAY_TABLE)
        rows = conn.execute("SELECT version, type, checksum, success FROM "
                            "flyway_schema_history WHERE version IS NOT NULL").fetchall()
    done = {flyway_version(v): (t, c) for v, t, c, ok in rows if ok}
    failed = sorted(flyway_version(v) for v, _, _, ok in rows if not ok)
    top = max((tuple(int(x) for x in v.split(".")) for v in done), default=())
    files = _flyway_files(project)
    pending = [v for key, v, _ in files if key > top and v not in done]
    bad = [v for _, v, p in files if v in done and done[v][0] != "BASELINE"
           and done[v][1] != flyway_checksum(p.read_bytes())]
    return pending, failed, bad


def flyway_migrate(dsn: str, project: Path, *, fail_at: str | None = None,
                   failed_row_at: str | None = None) -> list[str]:
    """`flyway migrate` on PostgreSQL: validate, then each pending file in a transaction
    with its history row (a failure rolls both back: no row). ``failed_row_at``: that
    migration runs outside a transaction (Flyway's mixed mode) and its run is recorded as
    failed after its statements ran."""
    from reportgen.collect.sql_files import flyway_checksum

    pending, failed, bad = flyway_info(dsn, project)
    if failed or bad:
        raise RuntimeError(f"Validate failed: failed {failed}, checksum mismatch {bad}")
    files = {v: p for _, v, p in _flyway_files(project)}
    ran = []
    for v in pending:
        path = files[v]
        desc = path.name.split("__", 1)[1][:-4].replace("_", " ")
        with psycopg.connect(dsn) as conn:
            rank = conn.execute("SELECT COALESCE(max(installed_rank), 0) + 1 FROM "
                                "flyway_schema_history").fetchone()[0]
            if v == fail_at:
                raise RuntimeError(f"Migration {path.name} failed (rolled back)")
            conn.execute(path.read_bytes().decode("utf-8").lstrip("\ufeff").encode())
            conn.execute("INSERT INTO flyway_schema_history (installed_rank, version, "
                         "description, type, script, checksum, installed_by, execution_time, "
                         "success) VALUES (%s, %s, %s, 'SQL', %s, %s, current_user, 1, %s)",
                         (rank, v, desc, path.name, flyway_checksum(path.read_bytes()),
                          v != failed_row_at))
        ran.append(v)
        if v == failed_row_at:
            break
    return ran
