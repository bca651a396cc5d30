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


def _project(root: Path, app: str = "shop", files: dict[str, str] = FILES) -> Path:
    mig = root / app / "migrations"
    mig.mkdir(parents=True)
    (root / app / "models.py").write_text("")
    (mig / "__init__.py").write_text("")
    for name, text in files.items():
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
    # Nothing built on it ran, and nothing bounds when its record could have been written:
    # not applied yet, or applied and lost with its record (never "pending" on no evidence).
    assert verdicts["0003_rename_order"] == ("pending_or_lost", "unsafe")
    assert verdicts["0002_remove_order_note"][1] != "safe"  # a removal found absent
    assert verdicts["0001_initial"][1] != "safe"
    a = analyze(collect_bundle(db.source(), project=tmp_path))
    assert not any(o.id == "refake_verified" for o in a.recovery_options)


CUSTOM = HEAD + """    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Tag", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.CreateModel(name="Post", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("owner", myapp.fields.OwnerKey(to="blog.Tag", on_delete=models.CASCADE)),
            ("tags", models.ManyToManyField(to="blog.Tag", through="blog.PostTag")),
        ]),
        migrations.CreateModel(name="PostTag", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("post", models.ForeignKey(to="blog.Post", on_delete=models.CASCADE)),
            ("tag", models.ForeignKey(to="blog.Tag", on_delete=models.CASCADE)),
        ]),
    ]
"""


def test_custom_fields_are_unverifiable_and_explicit_through_makes_no_table(db, tmp_path):
    """A custom FK subclass: its column is not guessed (unverifiable, never missing); an M2M
    with through= expects no join table of its own."""
    mig = tmp_path / "blog" / "migrations"
    mig.mkdir(parents=True)
    (tmp_path / "blog" / "models.py").write_text("")
    (mig / "__init__.py").write_text("")
    (mig / "0001_initial.py").write_text(CUSTOM)
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); INSERT INTO django_migrations (app, name, applied) VALUES "
               "('blog', '0001_initial', now()); CREATE TABLE blog_tag (id bigint PRIMARY KEY); "
               "CREATE TABLE blog_post (id bigint PRIMARY KEY, owner_ref bigint); "
               "CREATE TABLE blog_posttag (id bigint PRIMARY KEY, "
               "post_id bigint REFERENCES blog_post, tag_id bigint REFERENCES blog_tag); "
               "CREATE INDEX ON blog_posttag (post_id); CREATE INDEX ON blog_posttag (tag_id)")
    a = analyze(collect_bundle(db.source(), project=tmp_path))
    (st,) = [s for s in a.migrations if s.app == "blog"]
    assert st.state == "applied" and st.missing == []
    assert any("OwnerKey" in o for o in st.opaque)
    assert not any(f.severity in ("HIGH", "CRITICAL") for f in a.findings
                   if f.dimension in ("schema", "data"))


def test_a_reference_to_a_model_renamed_later_is_not_dangling(db, tmp_path):
    """The FK target existed when the migration ran; a later RenameModel does not make that
    migration's reference dangling (judged at its own state, not the final one)."""
    files = {
        ("lib", "0001_initial"): HEAD + """    initial = True
    dependencies = []
    operations = [migrations.CreateModel(name="Author", fields=[
        ("id", models.BigAutoField(primary_key=True, serialize=False))])]
""",
        ("shelf", "0001_initial"): HEAD + """    initial = True
    dependencies = [("lib", "0001_initial")]
    operations = [migrations.CreateModel(name="Book", fields=[
        ("id", models.BigAutoField(primary_key=True, serialize=False)),
        ("author", models.ForeignKey(to="lib.Author", on_delete=models.CASCADE))])]
""",
        ("lib", "0002_rename"): HEAD + """    dependencies = [("lib", "0001_initial"),
                    ("shelf", "0001_initial")]
    operations = [migrations.RenameModel(old_name="Author", new_name="Writer")]
""",
    }
    for (app, name), text in files.items():
        mig = tmp_path / app / "migrations"
        mig.mkdir(parents=True, exist_ok=True)
        (tmp_path / app / "models.py").write_text("")
        (mig / "__init__.py").write_text("")
        (mig / f"{name}.py").write_text(text)
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); INSERT INTO django_migrations (app, name, applied) VALUES "
               "('lib', '0001_initial', now()), ('shelf', '0001_initial', now()), "
               "('lib', '0002_rename', now()); CREATE TABLE lib_writer (id bigint PRIMARY KEY); "
               "CREATE TABLE shelf_book (id bigint, author_id bigint REFERENCES lib_writer); "
               "CREATE INDEX ON shelf_book (author_id)")
    a = analyze(collect_bundle(db.source(), project=tmp_path))
    assert "migration.dangling_reference" not in {f.id for f in a.findings}
    assert {(s.app, s.name): s.state for s in a.migrations} == {
        k: "applied" for k in files}

SEARCH = {
    "0001_initial": HEAD + """    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Pick", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.CreateModel(name="Entry", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False))]),
    ]
""",
    "0002_delete_pick": """from django.db import migrations
from search.operations import DeleteModelIfExists


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]
    operations = [DeleteModelIfExists("Pick")]
""",
    "0003_by_vendor": """from django.db import connection, migrations, models


class Migration(migrations.Migration):
    dependencies = [("search", "0002_delete_pick")]
    if connection.vendor == "postgresql":
        operations = [migrations.AddField("entry", "body", models.TextField(default=""))]
    else:
        operations = [migrations.CreateModel(name="EntryFts", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False))])]
""",
}


def test_what_the_static_scan_cannot_read_is_never_called_missing(db, tmp_path):
    """Wagtail's search app deletes a model with an operation class of its own and picks
    its operations by database vendor inside an ``if``: the static scan can read neither, so
    the table the first touched is not expected (it is gone, as it should be), and the
    second is opaque, not a migration that does nothing."""
    _project(tmp_path, "search", SEARCH)
    db.execute("CREATE TABLE django_migrations (id serial, app text, name text, applied "
               "timestamptz); CREATE TABLE search_entry (id bigint PRIMARY KEY, body text); "
               "INSERT INTO django_migrations (app, name, applied) VALUES "
               + ", ".join(f"('search', '{n}', now())" for n in SEARCH))
    a = analyze(collect_bundle(db.source(), project=tmp_path))
    search = next(s for s in a.apps if s.app == "search")
    assert search.tables_missing == [] and "data.tables_missing" not in {f.id for f in a.findings}
    assert not a.status.startswith("TABLES MISSING"), a.status
    by_name = {s.name: s for s in a.migrations if s.app == "search"}
    assert any("when the module runs" in o for o in by_name["0003_by_vendor"].opaque), \
        by_name["0003_by_vendor"]
