"""Other migration trackers, created with each tool's own table layout, in failure states."""

from __future__ import annotations

from reportgen.analyze import analyze
from reportgen.analyze.model import Finding
from reportgen.collect.run import collect_bundle

DDL = """
CREATE SCHEMA flyway;
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('ae1027a6acf');
CREATE TABLE flyway.flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50),
  description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL,
  checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
  execution_time int NOT NULL, success boolean NOT NULL);
INSERT INTO flyway.flyway_schema_history VALUES
  (1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'app', '2026-02-01 10:00', 12, true),
  (2, '2', 'add orders', 'SQL', 'V2__add_orders.sql', 2, 'app', '2026-02-01 11:00', 40, false);
CREATE TABLE databasechangelog (id varchar(255), author varchar(255), filename varchar(255),
  dateexecuted timestamp, orderexecuted int, exectype varchar(10), md5sum varchar(35),
  description varchar(255), comments varchar(255), tag varchar(255), liquibase varchar(20),
  contexts varchar(255), labels varchar(255), deployment_id varchar(10));
INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype)
  VALUES ('1', 'ana', 'db.changelog.xml', '2026-02-01 09:00', 1, 'EXECUTED');
CREATE TABLE databasechangeloglock (id int PRIMARY KEY, locked boolean NOT NULL,
  lockgranted timestamp, lockedby varchar(255));
INSERT INTO databasechangeloglock VALUES (1, true, '2026-02-01 12:00', 'ci-runner-7 (10.0.0.5)');
CREATE SCHEMA go;
CREATE TABLE go.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
INSERT INTO go.schema_migrations VALUES (20260201, true);
CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20260101000000'), ('20260115000000');
CREATE TABLE ar_internal_metadata (key varchar PRIMARY KEY, value varchar,
  created_at timestamp, updated_at timestamp);
INSERT INTO ar_internal_metadata VALUES ('environment', 'production', now(), now());
CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
  finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text,
  rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(),
  applied_steps_count int NOT NULL DEFAULT 0);
INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at) VALUES
  ('a', 'x', '2026-01-10 10:00+00', '20260110_init', '2026-01-10 10:00+00'),
  ('b', 'y', NULL, '20260201_add_index', '2026-02-01 14:00+00');
"""


def test_trackers_are_found_in_any_schema_with_their_failures(db):
    db.execute(DDL)
    b = collect_bundle(db.source())
    found = {t.tool: t for t in b.migrations.others}
    assert set(found) == {"alembic", "flyway", "liquibase", "liquibase-lock", "golang-migrate",
                          "rails", "rails-metadata", "prisma"}
    assert found["flyway"].schema_name == "flyway" and found["golang-migrate"].schema_name == "go"
    assert found["alembic"].current == "ae1027a6acf" and not found["alembic"].problems
    assert found["rails"].current == "20260115000000" and found["rails"].rows == 2
    assert found["rails-metadata"].current == "environment=production"
    assert found["flyway"].current == "1 init"
    assert "V2__add_orders.sql" in found["flyway"].problems[0]
    assert "ci-runner-7" in found["liquibase-lock"].problems[0]
    assert "Dirty database version 20260201" in found["golang-migrate"].problems[0]
    assert "20260201_add_index" in found["prisma"].problems[0]
    assert found["prisma"].current == "20260110_init"
    a = analyze(b)
    problems = {f.id: f for f in a.findings if f.id.endswith("_problem")}
    assert set(problems) == {"migration.flyway_problem", "migration.liquibase_lock_problem",
                             "migration.golang_migrate_problem", "migration.prisma_problem"}
    assert all(isinstance(f, Finding) and f.severity == "HIGH" for f in problems.values())
    assert a.risks["migration"] == "HIGH"


def test_a_tracker_table_larger_than_the_limit_is_unread_never_read_in_part(db, monkeypatch):
    """A reconciled tracker compares every row with the files: a table read in part would
    make its missing rows look like deleted records."""
    import reportgen.collect.trackers as trackers

    monkeypatch.setattr(trackers, "LIMIT", 3)
    db.execute("CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum "
               "varchar(64) NOT NULL, finished_at timestamptz, migration_name varchar(255) "
               "NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT "
               "NULL DEFAULT now(), applied_steps_count int NOT NULL DEFAULT 0);"
               "INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at) "
               "SELECT g::text, 'x', 'm' || g, now() FROM generate_series(1, 4) g")
    (prisma,) = collect_bundle(db.source()).migrations.others
    assert not prisma.readable and "more than 3 rows" in (prisma.error or "")
    monkeypatch.setattr(trackers, "LIMIT", 4)
    (prisma,) = collect_bundle(db.source()).migrations.others
    assert prisma.readable and len(prisma.entries) == 4
