"""The SQL-migration reader (issue 26, in progress): what PostgreSQL's grammar says a
migration's SQL creates and removes."""

from __future__ import annotations

from typing import Any

from reportgen.collect.sql_effects import effects_of_sql


def _objs(objs: list[Any]) -> set[tuple[Any, ...]]:
    return {(o.kind, o.table, o.name, tuple(o.columns or ())) for o in objs}


def test_tables_columns_keys_and_indexes_are_read_as_postgresql_names_them():
    e = effects_of_sql("""
        CREATE TABLE "Mixed" (id serial PRIMARY KEY, a int NOT NULL, b text UNIQUE,
                              c int REFERENCES other (id), CONSTRAINT ck CHECK (a > 0));
        ALTER TABLE Plain ADD COLUMN d int, DROP COLUMN e, ADD CONSTRAINT fk FOREIGN KEY (d)
            REFERENCES x (id), DROP CONSTRAINT old_ck;
        CREATE INDEX ix_tmp ON plain (d);
        DROP INDEX ix_tmp;
        CREATE INDEX ix_d ON plain (d);
        DROP TABLE IF EXISTS public.gone;
        CREATE TABLE alembic_version (version_num varchar(32) NOT NULL);
        UPDATE alembic_version SET version_num = 'abc';
        INSERT INTO plain (d) VALUES (1);
    """)
    assert _objs(e.creates) == {
        ("table", "Mixed", None, ()), ("column", "Mixed", "id", ()),
        ("unique", "Mixed", None, ("id",)), ("column", "Mixed", "a", ()),
        ("column", "Mixed", "b", ()), ("unique", "Mixed", None, ("b",)),
        ("column", "Mixed", "c", ()), ("foreign_key", "Mixed", None, ("c",)),
        ("constraint", "Mixed", "ck", ()), ("column", "plain", "d", ()),
        ("constraint", "plain", "fk", ()), ("index", "plain", "ix_d", ())}
    assert _objs(e.removes) == {("column", "plain", "e", ()),
                                ("constraint", "plain", "old_ck", ()),
                                ("table", "gone", None, ())}
    assert e.unverifiable == []


def test_what_the_grammar_cannot_turn_into_objects_is_unverifiable_saying_why():
    e = effects_of_sql("DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$; "
                       "ALTER TABLE a RENAME TO b; CREATE INDEX ON t (x);")
    assert e.creates == [] and e.removes == []
    assert len(e.unverifiable) == 3 and "DoStmt" in e.unverifiable[0]
    assert "rename" in e.unverifiable[1] and "without a name" in e.unverifiable[2]
    bad = effects_of_sql("CREATE TABLE (")
    assert bad.unverifiable and "grammar" in bad.unverifiable[0]


def test_an_index_dropped_and_built_again_is_created_and_one_made_and_dropped_is_neither():
    e = effects_of_sql("DROP INDEX ix_a; CREATE UNIQUE INDEX ix_a ON t (a, b); "
                       "CREATE TABLE tmp (x int); DROP TABLE tmp; DROP INDEX ix_gone;")
    assert _objs(e.creates) == {("index", "t", "ix_a", ())}
    assert _objs(e.removes) == {("index", "", "ix_gone", ())}
    assert e.statements == 5
    assert effects_of_sql("BEGIN; UPDATE alembic_version SET version_num = 'x'; COMMIT;"
                          ).statements == 0


def test_alembic_gives_a_real_project_s_revisions_and_their_effects(tmp_path):
    """optuna's own Alembic history (PyPI), read through its env.py in offline mode: the
    graph is Alembic's; a revision whose upgrade() inspects the database stops offline: what
    it wrote before is kept, marked partial, with the reason; one that writes nothing at all
    is unknown, never guessed empty."""
    import pytest

    from reportgen.collect.alembic_loader import find_ini, load_alembic
    from tests.alembic_projects import OPTUNA, make_project

    pytest.importorskip("optuna")
    project = make_project(OPTUNA, tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    (tmp_path / "empty").mkdir()
    assert find_ini(tmp_path / "empty") == []
    assert find_ini(tmp_path) == find_ini(project) == [project / "alembic.ini"]
    cb = load_alembic(project / "alembic.ini", project)
    assert cb.framework == "alembic" and cb.errors == [] and cb.config == "alembic.ini"
    revs = {m.name: m for m in cb.migrations}
    first = cb.migrations[0]
    assert first.dependencies == [] and first.creates
    assert {("table", "studies")} <= {(o.kind, o.table) for o in first.creates}
    assert [m.name for m in cb.migrations] == [n for _, n in cb.plan]
    stopped = [m for m in revs.values() if m.partial]
    assert stopped and all("offline mode stopped" in m.unverifiable[0] for m in stopped)
    assert all(m.creates is None or m.creates or m.removes for m in stopped)
    assert any(m.mentions is None for m in stopped)  # it finds tables at run time


def test_sql_migration_folders_are_found_and_read_in_the_tool_s_order(tmp_path):
    from reportgen.collect.run import detect_framework
    from reportgen.collect.sql_files import find_sql_migrations, read_golang, read_prisma
    from tests.sql_projects import write_golang, write_prisma

    go = write_golang(tmp_path / "go")
    (go / "db" / "migrations" / "000010_concurrently.up.sql").write_text(
        "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);", "utf-8")
    assert find_sql_migrations(go) == [("golang-migrate", go / "db" / "migrations")]
    assert detect_framework(go) == "golang-migrate"
    cb = read_golang(go / "db" / "migrations", go)
    assert [m.name for m in cb.migrations] == ["1", "2", "4", "5", "6", "7", "10"]
    by = {m.name: m for m in cb.migrations}
    assert by["4"].dependencies == [("golang-migrate", "2")]  # the gap: 3 never existed
    assert by["5"].creates == [] and not by["5"].noop  # data only: a statement, no object
    assert by["6"].atomic and not by["10"].atomic  # BEGIN ... COMMIT whole; CONCURRENTLY
    assert cb.config == "db/migrations" and cb.errors == []
    (go / "db" / "migrations" / "0004_again.up.sql").write_text("SELECT 1;", "utf-8")
    assert "version 4 also in" in read_golang(go / "db" / "migrations", go).errors[0]

    pr = write_prisma(tmp_path / "node")
    assert detect_framework(pr) == "prisma"
    cb = read_prisma(pr / "prisma" / "migrations", pr)
    assert [m.name for m in cb.migrations] == sorted(m.name for m in cb.migrations)
    first = cb.migrations[0]
    assert ("table", "User") in {(o.kind, o.table) for o in first.creates}
    assert first.checksum is not None and len(first.checksum) == 64
    assert detect_framework(tmp_path) == "django"  # two kinds below: none is assumed


def test_flyway_s_checksum_ignores_line_ends_and_a_byte_order_mark_and_is_signed(tmp_path):
    """Flyway reads a file line by line (BufferedReader.readLine) and feeds each line's UTF-8
    bytes to CRC-32, dropping a leading BOM; Java's (int) cast makes it signed."""
    import zlib

    from reportgen.collect.sql_files import flyway_checksum, flyway_version, read_flyway
    from tests.sql_projects import write_flyway

    lf = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"
    assert flyway_checksum(lf) == flyway_checksum(lf.replace(b"\n", b"\r\n")) \
        == flyway_checksum(b"\xef\xbb\xbf" + lf) == flyway_checksum(lf.rstrip(b"\n"))
    crc = zlib.crc32(b"CREATE TABLE t (id int);INSERT INTO t VALUES (1);")
    assert flyway_checksum(lf) == (crc - (1 << 32) if crc >= 1 << 31 else crc)
    assert flyway_checksum(lf) != flyway_checksum(lf + b"-- edited\n")
    assert flyway_version("1_10") == flyway_version("01.10") == "1.10"
    project = write_flyway(tmp_path)
    cb = read_flyway(project / "src/main/resources/db/migration", project)
    assert [m.name for m in cb.migrations] == ["1", "1.1", "2", "3", "4"]
    assert ("table", "transfers") in {(o.kind, o.table) for o in cb.migrations[2].creates}
