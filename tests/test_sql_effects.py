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


def test_alembic_gives_a_real_project_s_revisions_and_their_effects():
    """optuna's own Alembic history (PyPI), read through its env.py in offline mode: the
    graph is Alembic's; a revision whose upgrade() inspects the database cannot be written
    offline and is unverifiable, saying why — never guessed."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    optuna = pytest.importorskip("optuna")
    ini = Path(optuna.__file__).parent / "storages" / "_rdb" / "alembic.ini"
    res = subprocess.run([sys.executable, "-m", "reportgen.collect.alembic_loader", str(ini)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(res.stdout)
    revs = {r["name"]: r for r in data["revisions"]}
    assert data["heads"] == [data["revisions"][-1]["name"]]
    first = data["revisions"][0]
    assert first["dependencies"] == [] and first["creates"]
    assert {("table", "studies")} <= {(o["kind"], o["table"]) for o in first["creates"]}
    offline = [r for r in revs.values() if any("offline mode could not" in u
                                               for u in r["unverifiable"])]
    assert offline and all(r["creates"] is None for r in offline)
