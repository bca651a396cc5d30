"""Verdicts rest on positive evidence (static scan, real PostgreSQL): a migration is
re-recordable only if something it, or a migration built on it, creates is present; a removal
found absent proves nothing; a renamed model's table is the lower-case name Django gives it."""

from __future__ import annotations

from pathlib import Path

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle

HEAD = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
FILES = {
    "0001_initial": HEAD + """    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Order", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("note", models.TextField(default="")),
        ]),
    ]
""",
    "0002_remove_order_note": HEAD + """    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RemoveField(model_name="order", name="note")]
""",
    "0003_rename_order": HEAD + """    dependencies = [("shop", "0002_remove_order_note")]
    operations = [migrations.RenameModel(old_name="Order", new_name="PurchaseOrder")]
""",
}


def _project(root: Path) -> Path:
    mig = root / "shop" / "migrations"
    mig.mkdir(parents=True)
    (root / "shop" / "models.py").write_text("")
    (mig / "__init__.py").write_text("")
    for name, text in FILES.items():
        (mig / f"{name}.py").write_text(text)
    return root


def _verdicts(db, project: Path) -> dict[str, tuple[str, str]]:
    a = analyze(collect_bundle(db.source(), project=project))
    return {s.name: (s.state, s.fake) for s in a.migrations if s.app == "shop"}


def test_renamed_model_with_its_table_present_is_recordable(db, tmp_path):
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); CREATE TABLE shop_purchaseorder (id bigint PRIMARY KEY)")
    verdicts = _verdicts(db, _project(tmp_path))
    assert verdicts == {name: ("schema_present_unrecorded", "safe") for name in FILES}


def test_an_app_whose_tables_are_gone_is_never_called_recordable(db, tmp_path):
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz)")
    verdicts = _verdicts(db, _project(tmp_path))
    assert verdicts["0003_rename_order"] == ("pending", "unsafe")
    assert verdicts["0002_remove_order_note"][1] != "safe"  # a removal found absent
    assert verdicts["0001_initial"][1] != "safe"
    a = analyze(collect_bundle(db.source(), project=tmp_path))
    assert not any(o.id == "refake_verified" for o in a.recovery_options)
