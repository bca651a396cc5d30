"""Incident shapes: what a responder finds, planted on a database Django migrated from real apps.

Each shape changes one cell database (as the superuser, or through Django's own commands) and
says only what the database cannot: which tables empty themselves by design, what a script
that "found 0 tables" ran, and which template the cell starts from. Everything else of the
ground truth (tables dropped, columns gone, rows removed, records deleted, constraints and
views gone) is read from the database before and after (world.read_facts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from tests.incidents.world import RESTRICTED, ROLE_PASSWORD, World

Plant = Callable[[World, str], None]


@dataclass(frozen=True)
class Shape:
    name: str
    title: str
    plant: Plant
    #: "full": every migration applied; "pending": the next deploy's migrations unapplied.
    template: str = "full"
    #: Tables whose rows go by design (expired sessions, a drained queue): not loss.
    churn: frozenset[str] = frozenset()
    #: Hypotheses the database cannot show: what the shape's script did.
    hypotheses: dict[str, bool | None] = field(default_factory=dict)
    #: The responder's line about the incident, beside its start.
    reported: str = "first sign of the incident"
    #: Migrations whose schema a non-atomic run left half applied.
    half_applied: frozenset[tuple[str, str]] = frozenset()


def sql(*statements: str) -> Plant:
    def plant(world: World, db: str) -> None:
        for s in statements:
            world.execute(db, s)
    return plant


def _drop_fks(tables: tuple[str, ...]) -> Plant:
    """What DROP ... CASCADE does to the tables that stay: their foreign keys go."""
    def plant(world: World, db: str) -> None:
        with psycopg.connect(world.dsn(db), autocommit=True) as conn:
            names = conn.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'"
                " AND conrelid::regclass::text = ANY(%s)", [list(tables)]).fetchall()
            for table, name in names:
                conn.execute(psycopg.sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    psycopg.sql.Identifier(table), psycopg.sql.Identifier(name)))
    return plant


def _drop_indexes(world: World, db: str) -> None:
    """A Django-named index (db_index on knox_authtoken.token_key) and a unique constraint
    Django named itself (taggit_tag.name, unique=True)."""
    with psycopg.connect(world.dsn(db), autocommit=True) as conn:
        for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'knox_authtoken' AND "
                "indexname LIKE 'knox_authtoken_token_key_%' AND indexname NOT LIKE '%_like'"
        ).fetchall():
            conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
        conn.execute("ALTER TABLE taggit_tag DROP CONSTRAINT taggit_tag_name_key")


def _manage(*args: str) -> Plant:
    def plant(world: World, db: str) -> None:
        world.project.manage(world.server, db, *args)
    return plant


def _script(dbname: str | None, role: str | None, query: str) -> Plant:
    """A responder's "check tables" script: it connects (to ``dbname``, default the
    incident's database; as ``role``, default the owner) and counts tables with ``query``."""
    def plant(world: World, db: str) -> None:
        target = dbname or db
        dsn = world.server.dsn(target, user=role, password=ROLE_PASSWORD) if role \
            else world.dsn(target)
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(query).fetchone()
            assert row is not None and row[0] == 0, row  # it did find 0 tables
    return plant


def _both(*plants: Plant) -> Plant:
    def plant(world: World, db: str) -> None:
        for p in plants:
            p(world, db)
    return plant


COUNT_TABLES = ("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_name LIKE 'knox%'")

SHAPES: list[Shape] = [
    Shape("clean", "nothing happened", sql()),
    Shape("records_deleted", "records of three apps deleted (no data migrations)",
          sql("DELETE FROM django_migrations WHERE app IN ('knox', 'taggit', 'authtoken')")),
    Shape("records_deleted_data", "records of apps with data migrations deleted (Wagtail, CMS)",
          sql("DELETE FROM django_migrations WHERE app IN ('wagtailcore', 'wagtailimages', "
              "'cms')")),
    Shape("tables_dropped", "tables dropped with CASCADE",
          sql("DROP TABLE taggit_tag, knox_authtoken CASCADE")),
    Shape("dropped_and_cleared", "tables dropped, then their records cleared",
          sql("DROP TABLE taggit_taggeditem, taggit_tag CASCADE",
              "DELETE FROM django_migrations WHERE app = 'taggit'")),
    Shape("truncated", "a table truncated", sql("TRUNCATE knox_authtoken")),
    Shape("rows_deleted", "rows deleted from a table", sql("DELETE FROM auth_user WHERE id > 30")),
    Shape("column_dropped", "a column dropped",
          sql("ALTER TABLE auth_user DROP COLUMN last_name")),
    Shape("fks_dropped", "foreign keys dropped (what CASCADE does to the tables that stay)",
          _drop_fks(("knox_authtoken", "taggit_taggeditem"))),
    Shape("index_dropped", "a Django-named index and unique constraint dropped", _drop_indexes),
    Shape("views_dropped", "a view and the materialized views on it dropped by CASCADE",
          sql("DROP VIEW reporting.active_users CASCADE",
              "DROP MATERIALIZED VIEW catalogue_product_category_hierarchy")),
    Shape("pending", "migrations genuinely pending (code deployed, migrate not run)", sql(),
          template="pending"),
    Shape("faked", "a migration faked although its schema is missing",
          _manage("migrate", "wishlists", "0004", "--fake"), template="pending"),
    Shape("nonatomic_half", "a non-atomic migration half applied (crashed after its first "
          "operation)",
          sql("ALTER TABLE customer_communicationeventtype RENAME TO "
              "communication_communicationeventtype"),
          template="pending",
          half_applied=frozenset({("communication", "0002_reset_table_names")})),
    Shape("churn", "routine churn: expired sessions cleaned, a task queue drained",
          _both(_manage("clearsessions"),
                sql("DELETE FROM django_celery_results_taskresult WHERE status = 'SUCCESS'")),
          churn=frozenset({"public.django_session", "public.django_celery_results_taskresult"}),
          hypotheses={"rows_deleted": None}),
    Shape("script_blind", "a script's query saw 0 tables (information_schema, a role without "
          "privileges)", _script(None, RESTRICTED, COUNT_TABLES),
          hypotheses={"query_blind": True, "wrong_database": False},
          reported="check_tables.py reported 0 tables"),
    Shape("script_wrong_db", "a script looked in another database and saw 0 tables",
          _script("postgres", None, COUNT_TABLES),
          hypotheses={"wrong_database": True}, reported="check_tables.py reported 0 tables"),
]
BY_NAME = {s.name: s for s in SHAPES}
