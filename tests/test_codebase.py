"""The static migration scanner (ast only) and squash handling, on small written-out cases."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from reportgen.analyze.reconcile import pg_identifier
from reportgen.bundle import MigrationFile, MigrationRecord
from reportgen.collect.codebase import parse_migration, scan_project
from reportgen.migration_graph import apply_replacements

SOURCE = '''
from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


def forwards(apps, schema_editor):
    raise RuntimeError("never executed by reportgen")


class Migration(migrations.Migration):
    initial = True
    replaces = [("shop", "0001_a"), ("shop", "0002_b")]
    run_before = [("other", "0001_initial")]
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("catalog", "0003_item"),
    ]
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("buyer", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            to=settings.AUTH_USER_MODEL)),
                ("item", models.ForeignKey("catalog.Item", models.PROTECT, db_column="sku")),
                ("tags", models.ManyToManyField(to="catalog.Tag")),
            ],
            options={"db_table": "shop_orders"},
        ),
        migrations.CreateModel(name="Proxy", fields=[], options={"proxy": True}),
        migrations.AddField("order", "note", models.TextField(default="")),
        migrations.RenameField("order", "note", "comment"),
        migrations.AlterModelTable("order", "orders"),
        migrations.AddIndex("order", models.Index(fields=["comment"], name="orders_comment")),
        migrations.RunPython(forwards),
        migrations.RunSQL("DROP TABLE legacy"),
    ]
'''


def test_parse_migration_reads_everything_without_running_it():
    m = parse_migration(SOURCE, "shop", "0001_squashed", "shop/migrations/0001_squashed.py")
    assert m.initial is True
    assert m.replaces == [("shop", "0001_a"), ("shop", "0002_b")]
    assert m.run_before == [("other", "0001_initial")]
    assert m.dependencies == [("auth", "__first__"), ("catalog", "0003_item")]
    create = m.operations[0]
    assert (create.op, create.model, create.table) == ("CreateModel", "Order", "shop_orders")
    cols = {f.name: (f.column, f.target) for f in create.fields}
    assert cols == {"id": ("id", None), "buyer": ("buyer_id", "auth.User"),
                    "item": ("sku", "catalog.Item"), "tags": (None, "catalog.Tag")}
    assert m.operations[1].detail and "no table" in m.operations[1].detail
    assert [o.op for o in m.operations[2:]] == ["AddField", "RenameField", "AlterModelTable",
                                                "AddIndex", "RunPython", "RunSQL"]
    assert m.operations[4].table == "orders" and m.operations[5].detail == "orders_comment"
    assert m.operations[6].opaque and m.operations[7].opaque


def test_scan_reports_unparseable_files_and_destructive_scripts(tmp_path):
    mig = tmp_path / "shop" / "migrations"
    mig.mkdir(parents=True)
    (tmp_path / "shop" / "models.py").write_text("")
    (mig / "__init__.py").write_text("")
    (mig / "0001_initial.py").write_text(SOURCE)
    (mig / "0002_broken.py").write_text("class Migration(:\n")
    (tmp_path / "nomig" / "migrations").mkdir(parents=True)
    (tmp_path / "nomig" / "apps.py").write_text("")
    (tmp_path / "nomig" / "migrations" / "0001_initial.py").write_text(SOURCE)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "reset.py").write_text("cur.execute('truncate table x')\n"
                                                   "cur.execute('DROP  TABLE y')\n")
    cb = scan_project(tmp_path)
    assert [m.name for m in cb.migrations] == ["0001_initial"]
    assert any("0002_broken.py: cannot parse" in e for e in cb.errors)
    assert any("without __init__.py" in e for e in cb.errors)
    [script] = cb.destructive_scripts
    assert script.path == "scripts/reset.py" and script.statements == ["TRUNCATE", "DROP TABLE"]
    assert script.line == 1


def _m(name: str, deps=(), replaces=()) -> MigrationFile:
    return MigrationFile(app="a", name=name, path=f"a/migrations/{name}.py",
                         dependencies=list(deps), replaces=list(replaces), operations=[])


def _rec(*names: str) -> dict[tuple[str, str], MigrationRecord]:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return {("a", n): MigrationRecord(app="a", name=n, applied=when) for n in names}


def test_squash_semantics_follow_django():
    migs = {("a", "0001"): _m("0001"), ("a", "0002"): _m("0002", [("a", "0001")]),
            ("a", "0001_sq"): _m("0001_sq", replaces=[("a", "0001"), ("a", "0002")]),
            ("a", "0003"): _m("0003", [("a", "0002")])}
    # all replaced applied: the squash is applied, replaced nodes go, deps are remapped
    m, r, replaced = apply_replacements(migs, _rec("0001", "0002"))
    assert set(m) == {("a", "0001_sq"), ("a", "0003")} and ("a", "0001_sq") in r
    assert m[("a", "0003")].dependencies == [("a", "0001_sq")]
    assert replaced == {("a", "0001"), ("a", "0002")}
    # none applied: the squash stands, unapplied
    m, r, _ = apply_replacements(migs, {})
    assert set(m) == {("a", "0001_sq"), ("a", "0003")} and not r
    # partly applied: the squash is dropped, the replaced migrations stay
    m, r, _ = apply_replacements(migs, _rec("0001", "0001_sq"))
    assert set(m) == {("a", "0001"), ("a", "0002"), ("a", "0003")}
    assert ("a", "0001_sq") not in r


def test_pg_identifier_truncates_like_postgresql():
    assert pg_identifier("x" * 63) == "x" * 63
    assert pg_identifier("x" * 70) == "x" * 63
    assert pg_identifier("é" * 40).encode() == ("é" * 31).encode()  # 62 bytes, on a boundary


def test_scan_reads_only_app_migration_packages(tmp_path):
    """A virtualenv inside the project (Django installed in it, whatever its folder's name),
    Django's own django/db/migrations package and a migrations/ folder that is not beside
    an app are never read as the project's migrations."""
    import django

    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (app / "apps.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(SOURCE)
    env = tmp_path / "pyenv-3.11"
    (env / "lib" / "site-packages").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shutil.copytree(Path(django.__file__).parent / "db", env / "lib" / "site-packages" / "db",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(django.__file__).parent / "db", tmp_path / "vendored" / "db",
                    ignore=shutil.ignore_patterns("__pycache__"))  # not in a virtualenv
    (tmp_path / "docs" / "migrations").mkdir(parents=True)
    (tmp_path / "docs" / "migrations" / "__init__.py").write_text("")
    (tmp_path / "docs" / "migrations" / "0001_notes.py").write_text(SOURCE)
    cb = scan_project(tmp_path)
    assert [(m.app, m.name) for m in cb.migrations] == [("shop", "0001_initial")]
    assert not any("migration.py" in e for e in cb.errors)
    everything = scan_project(tmp_path, include_environments=True)
    assert [(m.app, m.name) for m in everything.migrations] == [("shop", "0001_initial")]
