"""The evidence bundle: the one versioned contract between collect and analyze/render.

Every field carries a description; ``reportgen schema`` prints the JSON Schema generated from
these models (never written by hand). The digest covers the canonical JSON of everything but
the digest itself, so a changed byte in a saved bundle is detected on load.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from reportgen.errors import DigestMismatch, InputError

#: Bumped on any change that an older reader cannot understand.
SCHEMA_VERSION = 2
#: A 50,000-table catalog makes a bundle of about 150 MB; anything far larger is not one.
MAX_BUNDLE_BYTES = 1 << 30


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


#: One ``__pydantic_fields_set__`` per (model, set of fields given), shared by every instance
#: that has it: see Many.
_FIELDS_SETS: dict[tuple[type, frozenset[str]], set[str]] = {}


class Many(Model):
    """A model of which a catalog holds hundreds of thousands (relations, their columns,
    keys and indexes). pydantic keeps, in each instance, the set of fields its input gave: a
    set of 30 names is 2 KB, more than the relation's own values. Instances with the same
    fields share one set (a 50,000-table catalog's model takes half the memory), copied on
    the first assignment that would change it, so each instance still sees its own."""

    def model_post_init(self, context: Any, /) -> None:
        given = self.__pydantic_fields_set__
        object.__setattr__(self, "__pydantic_fields_set__",
                           _FIELDS_SETS.setdefault((type(self), frozenset(given)), given))

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.__pydantic_fields_set__:  # about to add it: this one's own set
            object.__setattr__(self, "__pydantic_fields_set__",
                               set(self.__pydantic_fields_set__))
        super().__setattr__(name, value)


# --- collection metadata -------------------------------------------------------------------


class CollectorRun(Model):
    name: str = Field(description="Collector name (identity, inventory, migrations, codebase).")
    status: Literal["ok", "error", "skipped"] = Field(description="How the collector ended.")
    duration_ms: float = Field(description="Wall time of this collector in milliseconds.")
    error: str | None = Field(default=None, description="One-line error (no secrets) if any.")
    round_trips: int = Field(default=0, description="SQL round trips this collector made.")


class Collection(Model):
    started_at: datetime = Field(description="When collection started (UTC, tz-aware).")
    finished_at: datetime = Field(description="When collection finished (UTC, tz-aware).")
    application_name: str = Field(description="application_name used on the server.")
    snapshot: str = Field(description="Transaction mode the catalog queries ran in.")
    statement_timeout_ms: int = Field(description="SET LOCAL statement_timeout used.")
    lock_timeout_ms: int = Field(description="SET LOCAL lock_timeout used.")
    round_trips: int = Field(description="SQL round trips for the whole collection.")
    collectors: list[CollectorRun] = Field(description="One entry per collector, in run order.")


class Tool(Model):
    name: str = Field(default="reportgen", description="Producing tool.")
    version: str = Field(description="Producing tool's version.")


# --- target and identity -------------------------------------------------------------------


class Target(Model):
    """What the responder typed (or the environment supplied). Never a password."""

    source: str = Field(description="Where the DSN came from: --dsn, DATABASE_URL, libpq env.")
    host: str | None = Field(default=None, description="Host as given (None: local socket).")
    hostaddr: str | None = Field(default=None, description="hostaddr as given (IP dialled).")
    port: str | None = Field(default=None, description="Port as given.")
    dbname: str | None = Field(default=None, description="Database name as given.")
    user: str | None = Field(default=None, description="User as given.")
    sslmode: str | None = Field(default=None, description="sslmode as given (None: default).")
    service: str | None = Field(default=None, description="PGSERVICE name, if used.")


class Provider(Model):
    name: str = Field(description="neon, rds, aurora, cloudsql, azure, supabase, heroku, "
                      "crunchybridge, self-hosted or unknown.")
    region: str | None = Field(default=None, description="Region shown by the host name.")
    endpoint: str | None = Field(default=None, description="Provider endpoint/instance id.")
    pooler: bool = Field(default=False, description="The host is a connection pooler.")
    evidence: list[str] = Field(default_factory=list, description="What the guess rests on.")
    confirmed_by_server: bool | None = Field(
        default=None, description="True: the server shows this provider's own roles or "
        "settings; False: it shows none of them (the guess rests on the host name alone); "
        "None: nothing to check against.")


class Identity(Model):
    connected_host: str = Field(description="Host psycopg connected to (or socket dir).")
    connected_port: str = Field(description="Port psycopg connected to.")
    current_database: str = Field(description="current_database().")
    current_user: str = Field(description="current_user.")
    session_user: str = Field(description="session_user.")
    current_schema: str | None = Field(description="current_schema() (None: none on path).")
    search_path: str = Field(description="The search_path the database and role give a "
                             "session (reportgen's own runs with an empty one).")
    server_addr: str | None = Field(description="inet_server_addr() (None over a socket).")
    server_port: int | None = Field(description="inet_server_port().")
    server_version: str = Field(description="server_version setting.")
    server_version_num: int = Field(description="server_version_num setting.")
    version_string: str = Field(description="version().")
    in_recovery: bool = Field(description="pg_is_in_recovery(): a standby/replica.")
    ssl: bool | None = Field(description="pg_stat_ssl.ssl for this backend.")
    ssl_version: str | None = Field(default=None, description="Negotiated TLS version.")
    is_superuser: bool = Field(description="The collecting role is a superuser.")
    role_memberships: list[str] = Field(description="Roles the collecting role is member of.")
    server_time: datetime = Field(description="now() on the server: the snapshot's time.")
    server_timezone: str = Field(description="TimeZone setting of the session.")
    postmaster_start_time: datetime | None = Field(description="pg_postmaster_start_time().")
    system_identifier: str | None = Field(
        description="pg_control_system().system_identifier, if the role may read it.")
    backend_pid: int | None = Field(
        default=None, description="pg_backend_pid() of reportgen's own collecting session: "
        "its statements in a server log are recognised by this, never by their text.")
    provider: Provider = Field(description="Hosting provider, as far as evidence shows.")
    log_line_prefix: str | None = Field(
        default=None, description="log_line_prefix: how a stderr server log's lines start "
        "(None: not read, or a bundle from before it was).")
    log_destination: str | None = Field(default=None, description="log_destination.")


# --- inventory -----------------------------------------------------------------------------

RelKind = Literal["table", "partitioned table", "view", "materialized view", "foreign table"]


class Column(Many):
    name: str = Field(description="Column name.")
    type: str = Field(description="format_type() of the column.")
    not_null: bool = Field(description="NOT NULL constraint.")
    generated: bool = Field(default=False, description="A generated (computed) column: "
                            "never written by INSERT or UPDATE.")


class ForeignKey(Many):
    name: str = Field(description="Constraint name.")
    columns: list[str] = Field(description="Referencing columns.")
    ref_schema: str = Field(description="Referenced table's schema.")
    ref_table: str = Field(description="Referenced table.")
    ref_columns: list[str] = Field(description="Referenced columns.")


class IndexKey(Many):
    """An index's key, for the checks that look for a key rather than a name (Django names
    the indexes and unique constraints of ``db_index``, ``unique`` and foreign keys itself)."""

    name: str = Field(description="Index name.")
    columns: list[str | None] = Field(description="Key columns in order (None: an "
                                      "expression).")
    unique: bool = Field(description="A unique index (also what a UNIQUE constraint is).")
    primary: bool = Field(default=False, description="The primary key's index.")
    partial: bool = Field(default=False, description="Has a WHERE predicate.")


class LockHolder(Model):
    pid: int = Field(description="Backend holding or awaiting the conflicting lock.")
    mode: str = Field(description="Lock mode, e.g. AccessExclusiveLock.")
    granted: bool = Field(description="True: held; False: queued (we would queue behind it).")
    application_name: str | None = Field(description="Holder's application_name.")
    user: str | None = Field(description="Holder's role.")
    state: str | None = Field(description="Holder's state (active, idle in transaction...).")
    xact_start: datetime | None = Field(description="Holder's transaction start.")
    waiting_seconds: float | None = Field(description="Seconds since that transaction began.")
    query: str | None = Field(description="Holder's query, truncated, secrets removed.")


class Relation(Many):
    schema_name: str = Field(description="Schema (namespace).")
    name: str = Field(description="Relation name.")
    oid: int | None = Field(default=None, description="pg_class.oid: the same relation keeps "
                            "it when renamed (compared only between bundles of one cluster, "
                            "same system identifier: a logical restore gives new oids).")
    kind: RelKind = Field(description="Relation kind.")
    owner: str = Field(description="Owning role.")
    is_partition: bool = Field(default=False, description="A partition of another table.")
    row_estimate: int | None = Field(
        description="pg_class.reltuples; None when never analyzed/vacuumed (-1), not zero.")
    estimated_bytes: int = Field(description="relpages × block_size (no lock needed).")
    total_bytes: int | None = Field(
        description="pg_total_relation_size; None when it could not be read (see size_error).")
    size_error: str | None = Field(default=None, description="Why total_bytes is missing.")
    index_count: int = Field(description="Number of indexes.")
    indexes: list[str] = Field(default_factory=list, description="Index names.")
    index_keys: list[IndexKey] | None = Field(
        default=None, description="Each index's key columns and uniqueness (None: a bundle "
        "from before they were collected).")
    constraints: list[str] = Field(default_factory=list, description="Constraint names.")
    columns: list[Column] = Field(default_factory=list, description="Columns, in order.")
    foreign_keys: list[ForeignKey] = Field(default_factory=list, description="FKs out.")
    primary_key: list[str] = Field(default_factory=list, description="The primary key's "
                                   "columns, in key order; empty: the table has none.")
    readable: bool | None = Field(
        description="The collecting role holds SELECT on it. None: another session dropped it "
                    "while reportgen was collecting (it is in the snapshot, but privileges are "
                    "checked against the current catalog, where it no longer is).")
    live_tuples: int | None = Field(description="pg_stat n_live_tup (None: no stats).")
    dead_tuples: int | None = Field(description="pg_stat n_dead_tup.")
    inserted_tuples: int | None = Field(description="pg_stat n_tup_ins since stats reset.")
    updated_tuples: int | None = Field(description="pg_stat n_tup_upd since stats reset.")
    deleted_tuples: int | None = Field(description="pg_stat n_tup_del since stats reset.")
    last_analyze: datetime | None = Field(description="Latest of last_analyze/autoanalyze.")
    last_vacuum: datetime | None = Field(description="Latest of last_vacuum/autovacuum.")
    locked_by: list[LockHolder] = Field(
        default_factory=list, description="Other sessions holding/awaiting ACCESS EXCLUSIVE.")
    exact_rows: int | None = Field(
        default=None, description="count(*) in the snapshot (--exact-counts); None: not counted.")
    count_error: str | None = Field(default=None, description="Why it was not counted.")

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.name}"


class SchemaCount(Model):
    schema_name: str = Field(description="Schema.")
    pg_class: int = Field(description="Tables/views counted from pg_catalog.pg_class.")
    information_schema: int = Field(
        description="Tables/views counted from information_schema.tables (privilege-filtered).")
    usage: bool = Field(description="The collecting role holds USAGE on the schema.")


class ExactCounts(Model):
    requested: bool = Field(description="--exact-counts was given.")
    targeted: bool = Field(default=False, description="Without --exact-counts: only the "
                           "tables the statistics flag (rows written, none live) were counted.")
    counted: int = Field(default=0, description="Tables counted exactly.")
    skipped: int = Field(default=0, description="Tables not counted (locked, slow, budget).")
    per_table_timeout_ms: int = Field(default=0, description="statement_timeout per count.")
    budget_s: float = Field(default=0, description="Total time allowed for counting.")
    duration_s: float = Field(default=0, description="Time spent counting.")


class Inventory(Model):
    relations: list[Relation] = Field(description="Every user relation, sorted by schema, name.")
    schema_counts: list[SchemaCount] = Field(description="Per-schema counts, both catalogs.")
    excluded_schemas: list[str] = Field(description="Schema name patterns not inventoried.")
    sizes_complete: bool = Field(description="All sizes were read (no lock/timeout gaps).")
    exact_counts: ExactCounts | None = Field(default=None, description="Exact count run.")
    size_error: str | None = Field(default=None, description="Why sizes are estimates only.")


# --- signals without a baseline ------------------------------------------------------------


class DatabaseStats(Model):
    stats_reset: datetime | None = Field(description="pg_stat_database.stats_reset.")
    xact_commit: int = Field(description="Committed transactions since reset.")
    xact_rollback: int = Field(description="Rolled-back transactions since reset.")
    tup_inserted: int = Field(description="Rows inserted since reset.")
    tup_updated: int = Field(description="Rows updated since reset.")
    tup_deleted: int = Field(description="Rows deleted since reset.")
    conflicts: int = Field(description="Recovery conflicts.")
    deadlocks: int = Field(description="Deadlocks.")


class StatementStat(Model):
    kind: str = Field(description="DROP TABLE, TRUNCATE, DELETE without WHERE, ...")
    query: str = Field(description="Normalized query text (first 500 characters).")
    calls: int = Field(description="Times executed since pg_stat_statements was reset.")
    rows: int = Field(description="Rows affected in all.")
    user: str | None = Field(description="Role that ran it.")


class Signals(Model):
    database: DatabaseStats | None = Field(description="pg_stat_database for this database.")
    statements_available: bool = Field(description="pg_stat_statements could be read.")
    statements_note: str | None = Field(default=None, description="Why it could not.")
    statements: list[StatementStat] = Field(default_factory=list,
                                            description="Destructive statements it recorded.")


# --- migration records ---------------------------------------------------------------------


class MigrationRecord(Model):
    app: str = Field(description="django_migrations.app.")
    name: str = Field(description="django_migrations.name.")
    applied: datetime | None = Field(description="django_migrations.applied (UTC).")


class DjangoRecords(Model):
    table_present: bool = Field(description="A django_migrations table exists.")
    schema_name: str | None = Field(default=None, description="Schema holding it.")
    readable: bool = Field(default=True, description="The collecting role could read it.")
    error: str | None = Field(default=None, description="Why records could not be read.")
    records: list[MigrationRecord] = Field(default_factory=list, description="All rows.")
    rewritten: bool | None = Field(
        default=None, description="The table was rewritten since it was created (its "
        "relfilenode differs from its oid: TRUNCATE, VACUUM FULL, CLUSTER), so rows may have "
        "left it without a counted delete. None: not known.")
    ignored: list[str] = Field(
        default_factory=list, description="Relations named django_migrations that are not "
        "tables (views, foreign tables): reported, never read.")


class TrackerEntry(Model):
    """One migration as a tracker's table records it (golang-migrate: its one version row;
    Prisma: each row of _prisma_migrations)."""

    name: str = Field(description="Version (golang-migrate) or migration name (Prisma), as "
                      "stored.")
    state: Literal["applied", "failed", "rolled_back", "dirty"] = Field(
        description="applied; failed (started, neither finished nor rolled back); "
        "rolled_back (marked rolled back); dirty (golang-migrate: a run began and did not "
        "finish: every version below it is applied, this one is in doubt).")
    checksum: str | None = Field(default=None, description="The checksum the tool stored "
                                 "for the file (Prisma: sha-256 of migration.sql).")
    project: str | None = Field(default=None, description="sqitch: the project the change "
                                "belongs to (one registry serves several).")
    baseline: bool = Field(default=False, description="Flyway: a BASELINE row (every version "
                           "at or below it counts as applied).")
    at: datetime | None = Field(default=None, description="When it finished (or started).")


class TrackerSummary(Model):
    tool: str = Field(description="alembic, flyway, liquibase, liquibase-lock, rails, sqitch, "
                      "rails-metadata, golang-migrate or prisma.")
    schema_name: str = Field(description="Schema holding the tracking table.")
    table: str = Field(description="Tracking table.")
    readable: bool = Field(default=True, description="The collecting role could read it.")
    error: str | None = Field(default=None, description="Why it could not be read.")
    rows: int = Field(default=0, description="Rows read (all of them: a table of more than "
                      "100,000 is reported unread).")
    current: str | None = Field(default=None, description="Current version / latest entry.")
    latest_at: datetime | None = Field(default=None, description="When the latest ran.")
    problems: list[str] = Field(default_factory=list,
                                description="Failed, dirty, locked or unfinished states.")
    notes: list[str] = Field(default_factory=list, description="Other facts worth showing.")
    versions: list[str] = Field(
        default_factory=list, description="The versions the table records as applied, as "
        "read (alembic: every row of alembic_version, one per applied head).")
    entries: list[TrackerEntry] = Field(
        default_factory=list, description="golang-migrate, Flyway, Prisma and sqitch: each "
        "migration the table records, with its state.")


class TenantTable(Model):
    """The tenant model's table as read (django-tenants: one row per tenant, its schema)."""

    table: str = Field(description="The table, schema-qualified, as the settings name it.")
    column: str = Field(description="The column holding each tenant's schema name.")
    schema_names: list[str] | None = Field(
        default=None, description="Every tenant's schema, as the table lists them (None: "
        "not read).")
    error: str | None = Field(default=None, description="Why it was not read.")


class SchemaTrackers(Model):
    """Every django_migrations table of the database, each in its own schema (schema per
    tenant), read in the same snapshot; and every schema, with or without one."""

    trackers: list[DjangoRecords] = Field(description="One per schema holding one, by name.")
    schemas: list[str] = Field(description="Every schema of the database (system schemas "
                               "excepted), by name.")
    tenant_table: TenantTable | None = Field(
        default=None, description="The tenant model's table, when the codebase names one.")
    truncated: bool = Field(default=False, description="More trackers than were read (the "
                            "rest are not in the bundle: nothing about them is judged).")


class MigrationTables(Model):
    django: DjangoRecords = Field(description="Django's migration records.")
    others: list[TrackerSummary] = Field(
        default_factory=list, description="Other tools' tracking tables, in any schema.")
    schemas: SchemaTrackers | None = Field(
        default=None, description="Schema per tenant: every schema's django_migrations "
        "(collected when there is more than one, or the codebase lays out tenants).")


# --- codebase ------------------------------------------------------------------------------


class FieldSpec(Model):
    name: str = Field(description="Model field name.")
    column: str | None = Field(description="Database column (FK: name_id); None for M2M.")
    kind: str = Field(description="Field class, e.g. CharField, ForeignKey.")
    target: str | None = Field(default=None, description="Related model 'app.Model' for FK/M2M.")
    through: str | None = Field(default=None, description="M2M with an explicit through model: "
                                "no join table of its own.")
    constraint: bool = Field(default=True, description="FK: db_constraint (a database "
                             "foreign key is created).")
    unique: bool = Field(default=False, description="unique=True (or a OneToOneField).")
    indexed: bool = Field(default=False, description="db_index (a ForeignKey's default).")
    modelled: bool = Field(default=True, description="False: a field class the reader cannot "
                           "model exactly (a custom class seen by the static scan); its "
                           "columns are unverifiable, never missing.")


class OperationSpec(Model):
    op: str = Field(description="Operation class, e.g. CreateModel, AddField, RunSQL.")
    model: str | None = Field(default=None, description="Model name (lower case) it touches.")
    table: str | None = Field(default=None, description="Table it creates/alters/drops.")
    fields: list[FieldSpec] = Field(default_factory=list, description="Fields it adds.")
    detail: str | None = Field(default=None, description="Extra detail (old/new names...).")
    opaque: bool = Field(default=False, description="Effect cannot be known statically.")
    state_only: bool = Field(default=False, description="A SeparateDatabaseAndState "
                             "state_operations entry: changes the models, not the database.")


SchemaKind = Literal["table", "column", "index", "constraint", "foreign_key", "unique",
                     "indexed"]


class SchemaObject(Model):
    """A schema object a migration creates or removes, named as PostgreSQL stores it. Indexes
    and constraints the migration names are matched by name; the keys Django names itself
    (a foreign key, ``unique``, ``db_index``) by their columns."""

    kind: SchemaKind = Field(description="What it is: table, column, a named index or "
                             "constraint, or a foreign_key / unique / indexed key.")
    table: str = Field(description="The table (the object itself, for kind table).")
    name: str | None = Field(default=None, description="Column, index or constraint name.")
    columns: list[str] | None = Field(default=None, description="foreign_key, unique, "
                                      "indexed: the key's columns.")
    ref_table: str | None = Field(default=None, description="foreign_key: the table it "
                                  "references (shown, not compared: a later rename of that "
                                  "table keeps the key).")
    state_only: bool = Field(default=False, description="Changed in the framework's models "
                             "by a state-only operation (SeparateDatabaseAndState), or by an "
                             "operation class the reader does not model: what the database "
                             "did is not known, so it is not checked; it still stands for "
                             "the object's latest change.")


class ModelTable(Model):
    """A model a codebase reader saw, by its last name, and the table it maps to."""

    app: str = Field(description="App label.")
    model: str = Field(description="Model name as written in the migrations.")
    table: str = Field(description="Its table as the framework names it.")
    has_table: bool = Field(description="False: deleted, a proxy, unmanaged, or changed by "
                            "an operation the reader does not model.")


class MigrationFile(Model):
    app: str = Field(description="App label (directory above migrations/).")
    name: str = Field(description="Migration name (file name without .py; Alembic: the "
                      "revision id).")
    title: str | None = Field(default=None, description="What the migration says it does "
                              "(Alembic: the revision's message).")
    path: str = Field(description="Path relative to the project root.")
    dependencies: list[tuple[str, str]] = Field(description="(app, name) dependencies.")
    replaces: list[tuple[str, str]] = Field(default_factory=list, description="Squashed.")
    run_before: list[tuple[str, str]] = Field(default_factory=list, description="run_before.")
    initial: bool | None = Field(default=None, description="Migration.initial.")
    atomic: bool = Field(default=True, description="Migration.atomic: on PostgreSQL an atomic "
                         "migration's operations and its record commit together, so any of "
                         "its effects present means all of it ran, RunPython included.")
    operations: list[OperationSpec] = Field(description="Operations, in order.")
    creates: list[SchemaObject] | None = Field(
        default=None, description="What this migration creates: in Django mode from the "
        "framework's own state before and after it (Django's ProjectState), in the static "
        "scan (and where Django could not build a state) from the reader's replay of its "
        "operations. None: not written (a bundle of schema version 1).")
    removes: list[SchemaObject] | None = Field(
        default=None, description="What this migration removes, from the same source.")
    unverifiable: list[str] = Field(
        default_factory=list, description="What the reader could not turn into schema "
        "objects (RunSQL, RunPython, an operation or field class it does not model, an "
        "operation on a model it never saw): whether these ran cannot be read from the "
        "schema.")
    state_error: str | None = Field(
        default=None, description="Why the framework could not give this migration's states.")
    unresolved: list[tuple[str, str]] | None = Field(
        default=None, description="Relations (model.field, target) this migration's models "
        "hold whose target model is in no migration state after it: migrate stops on them. "
        "None: not computed.")
    partial: bool = Field(default=False, description="creates/removes are what the reader "
                          "saw before it stopped (Alembic: the SQL offline mode wrote before "
                          "the revision's own code failed): more may follow, removals too.")
    mentions: list[str] | None = Field(
        default=None, description="For a migration whose effects are not all known (partial, "
        "or none read): every word of its source's string constants, the names it can touch. "
        "None: not read, or its code finds tables at run time (get_table_names, "
        "sorted_tables...), so it may touch any.")
    checksum: str | None = Field(default=None, description="The file's checksum as its "
                                 "tool computes it (Prisma: sha-256 hex of migration.sql; "
                                 "Flyway: its CRC-32 of the lines, a signed integer).")
    noop: bool = Field(default=False, description="Its SQL for PostgreSQL is empty (Alembic: "
                       "offline mode wrote no statement at all): running it changes nothing, "
                       "so recording it is safe whether it ran or not.")


class DestructiveScript(Model):
    path: str = Field(description="File outside migrations/ with destructive SQL.")
    statements: list[str] = Field(description="Kinds found: DROP TABLE, TRUNCATE, ...")
    line: int = Field(description="First line where one appears.")


class Tenancy(Model):
    """How the settings spread apps over schemas, as django-tenants' TenantSyncRouter decides
    (its own app_in_list over SHARED_APPS and TENANT_APPS)."""

    library: str = Field(description="The router, e.g. django_tenants.routers.TenantSyncRouter.")
    public_schema: str = Field(description="The shared schema (PUBLIC_SCHEMA_NAME).")
    shared_apps: list[str] = Field(description="App labels migrated in the shared schema.")
    tenant_apps: list[str] = Field(description="App labels migrated in each tenant schema.")
    tenant_table: str | None = Field(default=None, description="The tenant model's table.")
    tenant_column: str = Field(default="schema_name", description="Its schema-name column.")
    error: str | None = Field(default=None, description="Why the layout could not be read "
                              "whole (then nothing in a tenant is called missing).")


class Codebase(Model):
    root: str = Field(description="Project directory as given (absolute).")
    framework: Literal["django", "alembic", "golang-migrate", "flyway", "prisma",
                       "sqitch"] = Field(
        default="django", description="The migration framework whose files these are: "
        "django (app/migrations/NNNN_*.py, recorded in django_migrations); alembic (a "
        "revision graph, its heads recorded in alembic_version); golang-migrate "
        "(NNN_name.up.sql, the current version in schema_migrations); flyway "
        "(V<version>__name.sql, each in flyway_schema_history); prisma "
        "(migrations/<name>/migration.sql, each in _prisma_migrations); sqitch (sqitch.plan "
        "and deploy/<change>.sql, each deployed change in sqitch.changes). Every migration's "
        "app is the framework's name.")
    project: str | None = Field(default=None, description="sqitch: the plan's %project "
                                "(its rows in the registry are the ones compared).")
    config: str | None = Field(default=None, description="The framework's configuration "
                               "file or migrations folder, relative to root (alembic.ini, "
                               "db/migrations, prisma/migrations).")
    method: str = Field(description="How the expected state was derived.")
    migrations: list[MigrationFile] = Field(description="Migration files found.")
    errors: list[str] = Field(default_factory=list, description="Files that could not be read.")
    destructive_scripts: list[DestructiveScript] = Field(
        default_factory=list, description="Scripts (not migrations) containing DROP/TRUNCATE.")
    graph_errors: list[str] = Field(
        default_factory=list, description="Errors Django's migration graph raised (e.g. "
        "NodeNotFoundError): each also blocks `migrate`.")
    installed_apps: list[str] = Field(
        default_factory=list, description="App labels Django knows (Django mode only).")
    plan: list[tuple[str, str]] = Field(
        default_factory=list, description="The order `migrate` applies the migrations in "
        "(Django mode: the executor's full plan); the analyzer follows it where dependencies "
        "leave the order open.")
    models: list[ModelTable] = Field(
        default_factory=list, description="Every model the reader saw in the migrations, by "
        "its last name: where an unresolved relation's target may have gone.")
    tenancy: Tenancy | None = Field(
        default=None, description="Schema per tenant (Django mode, a tenant router in "
        "DATABASE_ROUTERS): which apps each schema gets.")


# --- server log ----------------------------------------------------------------------------


class TableName(Model):
    """A table as a statement or the catalog names it, schema and name kept apart (a dot or
    a quote inside a name never splits it)."""

    schema_name: str | None = Field(
        default=None, description="Schema; None when the statement left it unqualified.")
    name: str = Field(description="Table name, as PostgreSQL stores it (case folded).")

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.name}" if self.schema_name is not None else self.name


class ColumnName(Model):
    """A column of a table, schema, table and column kept apart."""

    schema_name: str | None = Field(
        default=None, description="Schema; None when the evidence left it unqualified.")
    table: str = Field(description="Table name.")
    name: str = Field(description="Column name.")

    @property
    def qualified(self) -> str:
        table = TableName(schema_name=self.schema_name, name=self.table).qualified
        return f"{table}.{self.name}"


class LogEvent(Model):
    time: datetime = Field(description="When the server logged it (UTC).")
    kind: str = Field(description="DROP TABLE, TRUNCATE, ALTER ... DROP, DDL, DELETE ...")
    statement: str = Field(description="The statement (first 500 characters).")
    tables: list[TableName] = Field(
        default_factory=list, description="Tables the statement drops, truncates, alters or "
        "deletes from, read with PostgreSQL's own parser (pglast).")
    schemas: list[str] = Field(
        default_factory=list, description="CATALOG QUERY (a SELECT listing tables from "
        "information_schema or pg_catalog): the schema names it filters on.")
    user: str | None = Field(default=None, description="Role, from the log line's prefix or "
                             "its csv/json field (never from the statement's text).")
    database: str | None = Field(default=None, description="Database, from the same fields.")
    application: str | None = Field(default=None, description="application_name, idem.")
    session: str | None = Field(default=None, description="Backend PID or session id, idem.")
    source: str = Field(description="file:line it came from.")


class RoleVisibility(Model):
    """What a role the log shows listing tables could see: per schema, the relations
    information_schema shows it (those it owns or holds a privilege on) beside pg_class."""

    role: str = Field(description="The role, as the log names it.")
    schema_name: str = Field(description="Schema.")
    visible: int = Field(description="Relations information_schema shows this role.")
    pg_class: int = Field(description="Relations pg_class holds in the schema.")


class ServerLog(Model):
    files: list[str] = Field(description="Log files read, with their detected format.")
    lines_read: int = Field(description="Lines read in all.")
    unparsed: int = Field(default=0, description="Statement lines whose time was unreadable.")
    events: list[LogEvent] = Field(description="DDL and destructive statements, in time order.")
    write_databases: list[str] | None = Field(
        default=None, description="Databases whose writes (INSERT, COPY, DELETE) the log "
        "records (log_statement 'mod' or 'all'); '' for lines that name no database. Where a "
        "database's writes are not logged, a write missing from the log proves nothing. "
        "None: a bundle from before this was recorded.")
    notes: list[str] = Field(default_factory=list, description="Caveats (format, zone...).")
    role_visibility: list[RoleVisibility] = Field(
        default_factory=list, description="For the roles whose catalog queries the log shows "
        "in this database: what information_schema shows each of them, per schema (read in "
        "the same snapshot).")


# --- the timeline ------------------------------------------------------------------------------


class TimelineEntry(Model):
    """One event of the incident's timeline: from the responder's timeline file, the server
    log, the migration records or the analyzer; read by every stage, so it is a contract
    type, here."""

    time: datetime
    event: str
    source: str = Field(description="Where this entry came from.")
    approximate: bool = False
    flag: str | None = Field(default=None, description="Why this responder-given time cannot "
                             "be right as written (after the collection, before the database's "
                             "first recorded migration): check its clock or zone.")


# --- the bundle ----------------------------------------------------------------------------


class EvidenceBundle(Model):
    digest: str = Field(default="", description="sha256 of this file's bytes with this field "
                        "empty (it is the first field, so it sits at a known place).")
    schema_version: int = Field(description="Bundle format version (this reader: 2; a "
                                "version 1 bundle still loads).")
    tool: Tool = Field(description="Producing tool and version.")
    collection: Collection = Field(description="When and how the evidence was collected.")
    target: Target = Field(description="Connection parameters as given (no password).")
    identity: Identity | None = Field(description="Server identity (None: collector failed).")
    inventory: Inventory | None = Field(description="Relations (None: collector failed).")
    migrations: MigrationTables | None = Field(description="Migration-tracking records.")
    codebase: Codebase | None = Field(default=None, description="Expected state from code.")
    signals: Signals | None = Field(default=None, description="Counters and statement stats.")
    server_log: ServerLog | None = Field(default=None, description="Events from server logs.")
    redacted: bool = Field(default=False, description="Names replaced by pseudonyms (--redact).")
    #: The exact bytes of this bundle (set when sealed or loaded): written back byte for
    #: byte, so a bundle read by a newer reportgen (whose models gained optional fields)
    #: still matches its digest. Sealed from pieces, it stays in pieces until to_bytes() (a
    #: 50,000-table bundle is ~50 MB: ``reportgen collect`` writes it without one whole copy).
    _raw: bytes | list[bytes] | None = PrivateAttr(default=None)

    def _pieces(self, digest: str, relations_json: list[bytes] | None = None) -> list[bytes]:
        """The file, in pieces: pydantic's own JSON, straight to bytes (no Python object
        tree, no str copy), indented for bundles small enough to read, compact for large
        catalogs.

        ``relations_json``: the inventory's relations as JSON array text built elsewhere (by
        PostgreSQL, for a large catalog), in pieces, put in place of this model's empty list
        without copying them."""
        small = relations_json is None and (self.inventory is None
                                            or len(self.inventory.relations) <= PRETTY_MAX)
        b = self.model_copy(update={"digest": digest})
        out = b.__pydantic_serializer__.to_json(b, indent=2 if small else None) + b"\n"
        if relations_json is None:
            return [out]
        if self.inventory is None or self.inventory.relations:
            raise ValueError("relations JSON given, but the inventory is missing or not empty")
        # Relations is the inventory's first field: its empty list sits right after the key.
        at = out.index(b'"inventory":{') + len(b'"inventory":{')
        empty = b'"relations":[]'
        if not out.startswith(empty, at):
            raise ValueError("unexpected bundle layout: inventory.relations is not first")
        return [out[:at] + b'"relations":', *relations_json, out[at + len(empty):]]

    def _bytes(self, digest: str) -> bytes:
        return b"".join(self._pieces(digest))

    def compute_digest(self) -> str:
        raw = self.to_bytes() if self._raw is not None else self._bytes("")
        digest = digest_of_bytes(raw)
        return digest if digest is not None else _legacy_digest(json.loads(raw))

    @classmethod
    def from_own_bytes(cls, raw: bytes) -> EvidenceBundle:
        """The model of a bundle reportgen has just written (validated in full by pydantic's
        JSON parser; load_bundle is the reader for files from anywhere else)."""
        b = cls.model_validate_json(raw)
        b._raw = raw
        return b

    def sealed(self, relations_json: list[bytes] | None = None) -> EvidenceBundle:
        """This bundle with its digest: sha256 of the file with the digest value empty.
        The pieces are hashed and kept as they are, never joined into one copy (a
        50,000-table bundle is ~50 MB): see chunks()."""
        pieces = self._pieces("", relations_json)
        h = hashlib.sha256()
        for piece in pieces:
            h.update(piece)
        digest = "sha256:" + h.hexdigest()
        head = pieces[0]
        m = _DIGEST_AT_START.match(head)
        assert m is not None
        b = self.model_copy(update={"digest": digest})
        b._raw = [head[:m.start("d")] + digest.encode() + head[m.end("d"):], *pieces[1:]]
        return b

    def to_bytes(self) -> bytes:
        if isinstance(self._raw, list):
            self._raw = b"".join(self._raw)
        return self._raw if self._raw is not None else self._bytes(self.digest)

    def chunks(self) -> list[bytes]:
        """The file's bytes in pieces (joined, they are to_bytes()): for writing it out."""
        return self._raw if isinstance(self._raw, list) else [self.to_bytes()]

    def to_json(self) -> str:
        return self.to_bytes().decode("utf-8")

    def collector(self, name: str) -> CollectorRun | None:
        return next((c for c in self.collection.collectors if c.name == name), None)

    @property
    def complete(self) -> bool:
        """Every part of the evidence was read (``--strict`` exits 5 otherwise)."""
        return not self.gaps()

    def gaps(self) -> list[str]:
        """What could not be read, one line each: a collector that failed, a migration
        tracker present but unreadable, relations the role may not read, sizes or exact
        counts refused."""
        out = [f"collector {c.name} failed: {c.error}" for c in self.collection.collectors
               if c.status == "error"]
        m = self.migrations
        if m is not None and m.django.table_present and not m.django.readable:
            out.append(f"django_migrations not read: {m.django.error}")
        for t in m.others if m is not None else []:
            if not t.readable:
                out.append(f"{t.schema_name}.{t.table} ({t.tool}) not read: {t.error}")
        inv = self.inventory
        if inv is not None:
            unreadable = [r.qualified for r in inv.relations if r.readable is False]
            if unreadable:
                out.append(f"{len(unreadable)} relation(s) the role may not read")
            if any(not c.usage for c in inv.schema_counts):
                out.append("schemas without USAGE for the role")
            if inv.size_error and "refused" in inv.size_error:
                out.append(inv.size_error)
            if inv.exact_counts is not None and inv.exact_counts.skipped:
                out.append(f"{inv.exact_counts.skipped} table(s) not counted exactly")
        return out


#: Bundles with more relations are written compact (no indentation).
PRETTY_MAX = 2000
_DIGEST_AT_START = re.compile(rb'\A\{\s*"digest"\s*:\s*"(?P<d>[^"]*)"')


def digest_of_bytes(raw: bytes) -> str | None:
    """sha256 of the file with the digest value emptied; None if the digest is not the
    first field (a bundle from before this scheme: see _legacy_digest)."""
    m = _DIGEST_AT_START.match(raw)
    if m is None:
        return None
    h = hashlib.sha256(raw[:m.start("d")])
    h.update(raw[m.end("d"):])
    return "sha256:" + h.hexdigest()


def _legacy_digest(data: dict[str, Any]) -> str:
    """The first scheme: sha256 of the sorted, compact JSON of everything but the digest."""
    raw = {k: v for k, v in data.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical_json(raw)).hexdigest()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_bundle(path: str | Path, *, verify_digest: bool = True) -> EvidenceBundle:
    """Read and validate a bundle; every problem becomes one InputError line."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise InputError(f"{p}: {size / 2**20:.0f} MiB is larger than any evidence bundle "
                             f"({MAX_BUNDLE_BYTES >> 20} MiB at most); is it the right file?")
        if size == 0:
            raise InputError(f"{p}: empty file; the bundle was not written completely")
        raw = p.read_bytes()
        if raw[:2] == GZIP_MAGIC:  # a baseline store keeps bundles gzip-compressed
            raw = _gunzip(raw, p)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; is this an evidence bundle?") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    return parse_bundle(text, str(p), verify_digest=verify_digest)


GZIP_MAGIC = b"\x1f\x8b"


#: A bundle's JSON compresses about 10-30 times; a file that expands more than this is not
#: one reportgen wrote (a compression bomb): it is refused once that much is out.
MAX_GZIP_RATIO = 200
_GZIP_FLOOR = 64 << 20


def _gunzip(raw: bytes, p: Path) -> bytes:
    """A gzip-compressed bundle, decompressed piece by piece and no further than a bundle can
    be: ``MAX_GZIP_RATIO`` times the file (at least 64 MiB), never beyond the largest bundle
    allowed. Memory and time are bounded by that, not by what the file claims."""
    import gzip
    import io
    import zlib

    limit = min(MAX_BUNDLE_BYTES, max(_GZIP_FLOOR, MAX_GZIP_RATIO * len(raw)))
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while chunk := gz.read(1 << 20):
                out += chunk
                if len(out) > limit:
                    raise InputError(
                        f"{p}: expands beyond {limit >> 20} MiB ({len(raw):,} bytes "
                        f"compressed, more than {MAX_GZIP_RATIO} times): not a bundle "
                        "reportgen wrote (a compression bomb?); remove it")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{p}: gzip data is damaged ({exc}); the bundle was not written "
                         "completely") from None
    return bytes(out)


def invalid(name: str, exc: ValidationError) -> InputError:
    """One line for a file pydantic refused: its first problem's field and message, and how
    many more there are."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return InputError(f"{name}: field {loc}: {err['msg']}{more}")


def parse_bundle(text: str, name: str, *, verify_digest: bool = True) -> EvidenceBundle:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        raise InputError(f"{name}: not valid JSON ({exc}); the file may be truncated") from None
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply to be an evidence bundle") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: an evidence bundle is a JSON object, found "
                         f"{type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{name}: field schema_version: missing or not an integer; "
                         "is this a reportgen evidence bundle?")
    if version > SCHEMA_VERSION:
        raise InputError(f"{name}: bundle schema_version {version} is newer than this "
                         f"reportgen understands ({SCHEMA_VERSION}); upgrade reportgen")
    if version < 1:
        raise InputError(f"{name}: field schema_version: {version} is not a valid version")
    try:
        bundle = EvidenceBundle.model_validate(data)
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply to be an evidence bundle") from None
    except ValidationError as exc:
        raise invalid(name, exc) from None
    # The digest covers the file's own bytes (never a re-serialization), so a bundle read by
    # a newer reportgen, whose models gained optional fields, still verifies.
    bundle._raw = text.encode("utf-8")
    if verify_digest and bundle.digest != bundle.compute_digest():
        raise DigestMismatch(f"{name}: digest mismatch: the bundle was changed after collection "
                         "(use --no-verify to read it anyway)")
    return bundle


def bundle_json_schema() -> dict[str, Any]:
    return EvidenceBundle.model_json_schema()
