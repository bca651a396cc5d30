"""The incident matrix's world: one PostgreSQL server, the real-app project migrated by Django
into template databases, roles to collect as, and one database per cell with the ordinary
activity of a running application (so the server's activity counters have something to
show).

Ground truth is read from the database itself, before and after an incident is planted, with
plain catalog queries and ``count(*)`` (never with reportgen): what was dropped, emptied or
deleted is what the catalog and the rows say, not what a shape claims it did.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from reportgen.pgserver import LocalServer
from tests.incidents.project import Project, migrate_template

#: Roles a responder may collect as: one that reads everything (the README's recommended
#: role) and one that can only connect.
READER, RESTRICTED = "rg_reader", "rg_restricted"
ROLE_PASSWORD = "matrix-role-pw"
#: Migrations a deploy would apply next, unapplied in the pending template (Django rolls them
#: back itself when the template is made): leaf migrations creating a table, a column, and a
#: non-atomic one renaming tables (oscar's communication 0002, atomic = False).
PENDING_TARGETS = [("wagtailcore", "0097"), ("wishlists", "0003"), ("address", "0006"),
                   ("communication", "0001")]
_n = itertools.count()

#: What a running application leaves behind: users, tags, API tokens, sessions (expired ones
#: cleaned as Django's clearsessions does) and a task-result queue drained by its worker;
#: a reporting view and a materialized view built on the tables.
ACTIVITY = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT '!', false, 'user' || g, 'First' || g, 'Last' || g, 'user' || g || '@example.org',
       false, true, now() FROM generate_series(1, 40) g;
INSERT INTO taggit_tag (name, slug) SELECT 'tag ' || g, 'tag-' || g FROM generate_series(1, 50) g;
INSERT INTO taggit_taggeditem (object_id, content_type_id, tag_id)
SELECT u.id, (SELECT id FROM django_content_type WHERE app_label = 'auth' AND model = 'user'),
       t.id FROM auth_user u JOIN taggit_tag t ON t.id % 10 = u.id % 10 WHERE u.id <= 20;
INSERT INTO knox_authtoken (digest, created, user_id, expiry, token_key)
SELECT md5('token' || u.id) || md5('x' || u.id), now(), u.id, now() + interval '1 day',
       substr(md5('key' || u.id), 1, 15) FROM auth_user u WHERE u.id <= 25;
INSERT INTO django_session (session_key, session_data, expire_date)
SELECT 'old' || g, 'e30=', now() - interval '1 day' * (g % 3) FROM generate_series(1, 60) g;
DELETE FROM django_session WHERE expire_date < now();
INSERT INTO django_session (session_key, session_data, expire_date)
SELECT 'new' || g, 'e30=', now() + interval '1 hour' * (g % 2 * 2 - 1)
FROM generate_series(1, 40) g;
INSERT INTO django_celery_results_taskresult (task_id, status, content_type, content_encoding,
                                              date_done, date_created)
SELECT 'task-a' || g, 'SUCCESS', 'application/json', 'utf-8', now(), now()
FROM generate_series(1, 30) g;
DELETE FROM django_celery_results_taskresult WHERE status = 'SUCCESS';
INSERT INTO django_celery_results_taskresult (task_id, status, content_type, content_encoding,
                                              date_done, date_created)
SELECT 'task-b' || g, 'SUCCESS', 'application/json', 'utf-8', now(), now()
FROM generate_series(1, 20) g;
CREATE SCHEMA reporting;
CREATE VIEW reporting.active_users AS SELECT id, username, email FROM public.auth_user
  WHERE is_active;
CREATE MATERIALIZED VIEW reporting.user_tags AS
  SELECT u.username, count(*) AS tags FROM reporting.active_users u
  JOIN public.taggit_taggeditem i ON i.object_id = u.id GROUP BY u.username;
ANALYZE;
"""


@dataclass
class Facts:
    """The catalog and the rows of one database at one moment (ground truth). Relations are
    keyed by oid where it matters: a renamed table is the same table, not a dropped one."""

    relations: dict[str, tuple[str, int]] = field(default_factory=dict)  # name → (kind, oid)
    columns: set[tuple[int, str]] = field(default_factory=set)  # (table oid, column)
    indexes: set[str] = field(default_factory=set)  # schema.index (and constraint) names
    #: Foreign keys, unique keys and every index's key columns: (table oid, column tuple); a
    #: unique key's columns sorted (their order does not matter).
    foreign_keys: set[tuple[int, tuple[str, ...]]] = field(default_factory=set)
    unique_keys: set[tuple[int, tuple[str, ...]]] = field(default_factory=set)
    index_keys: set[tuple[int, tuple[str, ...]]] = field(default_factory=set)
    counts: dict[int, int] = field(default_factory=dict)  # table oid → count(*)
    records: set[tuple[str, str]] = field(default_factory=set)  # django_migrations

    def oid(self, name: str) -> int | None:
        found = self.relations.get(name)
        return found[1] if found else None

    def name_of(self, oid: int) -> str | None:
        return next((n for n, (_, o) in self.relations.items() if o == oid), None)


def read_facts(dsn: str) -> Facts:
    """Read as the superuser with statement logging off for the session: ground truth is
    never part of the server log an assessment reads."""
    f = Facts()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET log_statement = 'none'")
        for schema, name, kind, oid in conn.execute(
                "SELECT n.nspname, c.relname, c.relkind::text, c.oid::int8 FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
                "('r','p','v','m','f') AND n.nspname NOT IN ('pg_catalog','information_schema') "
                "AND n.nspname !~ '^pg_'"):
            f.relations[f"{schema}.{name}"] = (kind, oid)
        f.columns = {(oid, c) for oid, c in conn.execute(
            "SELECT c.oid::int8, a.attname FROM pg_attribute a JOIN pg_class c ON "
            "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attnum > 0 "
            "AND NOT a.attisdropped AND c.relkind IN ('r','p') AND n.nspname !~ '^pg_' AND "
            "n.nspname <> 'information_schema'")}
        f.indexes = {f"{s}.{i}" for s, i in conn.execute(
            "SELECT n.nspname, c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname !~ '^pg_' AND "
            "n.nspname <> 'information_schema' UNION SELECT n.nspname, con.conname FROM "
            "pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE "
            "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'")}
        keys = ("SELECT {rel}::int8, array_agg(a.attname::text ORDER BY k.ord) FROM {src} "
                "JOIN pg_class c ON c.oid = {rel} JOIN pg_namespace n ON n.oid = "
                "c.relnamespace CROSS JOIN LATERAL unnest({cols}) WITH ORDINALITY AS k(attnum, "
                "ord) JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum WHERE "
                "n.nspname !~ '^pg_' AND {where} GROUP BY {group}, {rel}")
        f.foreign_keys = {(t, tuple(cols)) for t, cols in conn.execute(keys.format(
            src="pg_constraint x", cols="x.conkey", rel="x.conrelid", where="x.contype = 'f'",
            group="x.oid"))}
        f.unique_keys = {(t, tuple(sorted(cols))) for t, cols in conn.execute(keys.format(
            src="pg_index x", cols="x.indkey::int2[]", rel="x.indrelid",
            where="x.indisunique AND x.indpred IS NULL AND NOT x.indisprimary",
            group="x.indexrelid"))}
        f.index_keys = {(t, tuple(cols)) for t, cols in conn.execute(keys.format(
            src="pg_index x", cols="x.indkey::int2[]", rel="x.indrelid", where="true",
            group="x.indexrelid"))}
        for rel, (kind, oid) in f.relations.items():
            if kind in ("r", "p"):
                schema, _, name = rel.partition(".")
                row = conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(name))).fetchone()
                f.counts[oid] = int(row[0]) if row else 0
        if "public.django_migrations" in f.relations:
            f.records = {(a, n) for a, n in conn.execute(
                "SELECT app, name FROM public.django_migrations")}
    return f


@dataclass
class World:
    server: LocalServer
    project: Project
    workdir: Path
    template: str
    _pending: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pending_template(self) -> str:
        """A copy of the template where the next deploy's migrations (PENDING_TARGETS) are
        unapplied, rolled back by Django itself: made when a case first needs it."""
        with self._lock:
            if self._pending is None:
                name = f"mtplp{next(_n)}"
                self.server.psql(f"CREATE DATABASE {name} TEMPLATE {self.template}")
                # One Django process for every `migrate APP NAME` (imports cost seconds).
                self.project.manage(self.server, name, "shell", "-c",
                                    "from django.core.management import call_command\n"
                                    f"for app, target in {PENDING_TARGETS!r}:\n"
                                    "    call_command('migrate', app, target, "
                                    "interactive=False, verbosity=0)")
                self._pending = name
            return self._pending

    def dsn(self, dbname: str, role: str | None = None) -> str:
        if role is None:
            return self.server.dsn(dbname)
        return self.server.dsn(dbname, user=role, password=ROLE_PASSWORD)

    def execute(self, dbname: str, sql: str) -> None:
        with psycopg.connect(self.dsn(dbname), autocommit=True) as conn:
            conn.execute(sql.encode())

    def clone(self, template: str, prefix: str = "m") -> str:
        name = f"{prefix}{next(_n)}_{int(time.time() * 1000) % 100000}"
        self.server.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop(self, *names: str) -> None:
        for name in names:
            self.server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def build_world(server: LocalServer, project: Project, workdir: Path) -> World:
    """A template migrated by Django, everything applied (and, when first asked for, one with
    the next deploy's migrations pending), and the roles cases collect as."""
    template = migrate_template(server, project, f"mtpl{next(_n)}")
    server.psql(f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
    CREATE ROLE {READER} LOGIN PASSWORD '{ROLE_PASSWORD}' IN ROLE pg_read_all_data, pg_monitor;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{RESTRICTED}') THEN
    CREATE ROLE {RESTRICTED} LOGIN PASSWORD '{ROLE_PASSWORD}';
  END IF;
END $$;""")
    return World(server, project, workdir, template)
