"""Recovery options that fit the provider and the evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen.analyze import analyze
from reportgen.analyze.providers import RESTORES
from reportgen.analyze.recovery import fk_order
from reportgen.bundle import ForeignKey, Relation
from reportgen.collect.provider import detect_provider, refine_provider
from reportgen.collect.run import collect_bundle
from reportgen.timeline_file import parse_timeline
from tests.conftest import FIXTURES
from tests.helpers import variant


@pytest.mark.parametrize("host, name, endpoint, region, pooler", [
    ("ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech", "neon",
     "ep-lively-queen-a13dp7w6", "ap-southeast-1", False),
    ("ep-cool-1234-pooler.us-east-2.aws.neon.tech", "neon", "ep-cool-1234", "us-east-2", True),
    ("shop-db.c9akciq32.eu-west-1.rds.amazonaws.com", "rds", "shop-db", "eu-west-1", False),
    ("shop.cluster-c9akciq32.eu-west-1.rds.amazonaws.com", "aurora", "shop", "eu-west-1", False),
    ("shop.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com", "aurora", "shop", "eu-west-1",
     False),
    ("shop-proxy.proxy-c9akciq32.eu-west-1.rds.amazonaws.com", "rds", "shop-proxy", "eu-west-1",
     True),
    ("shop.postgres.database.azure.com", "azure", "shop", None, False),
    ("db.abcdefghij.supabase.co", "supabase", "abcdefghij", None, False),
    ("ec2-54-1-2-3.compute-1.amazonaws.com", "heroku", None, "us-east-1", False),
    ("ec2-3-4-5-6.eu-west-1.compute.amazonaws.com", "heroku", None, "eu-west-1", False),
    ("p.xyz123.db.postgresbridge.com", "crunchybridge", "xyz123", None, False),
    ("/cloudsql/proj:europe-west1:shop", "cloudsql", "proj:europe-west1:shop", None, False),
    ("127.0.0.1", "self-hosted", None, None, False),
    ("db.internal.example.com", "unknown", None, None, False),
])
def test_provider_from_host(host, name, endpoint, region, pooler):
    p = detect_provider(host)
    assert (p.name, p.endpoint, p.region, p.pooler) == (name, endpoint, region, pooler)
    assert p.evidence


def test_server_markers_decide_when_the_host_says_nothing():
    ip = detect_provider("10.20.0.5")
    p = refine_provider(ip, [{"kind": "role", "name": "cloudsqlsuperuser", "value": None}])
    assert p.name == "cloudsql" and any("cloudsqlsuperuser" in e for e in p.evidence)
    rds = detect_provider("shop-db.c9akciq32.eu-west-1.rds.amazonaws.com")
    p = refine_provider(rds, [{"kind": "function", "name": "aurora_version", "value": None},
                              {"kind": "role", "name": "rds_superuser", "value": None}])
    assert p.name == "aurora"
    neon = detect_provider("ep-x-1.us-east-2.aws.neon.tech")
    p = refine_provider(neon, [{"kind": "setting", "name": "neon.timeline_id", "value": "abc"}])
    assert p.name == "neon" and any("timeline_id = abc" in e for e in p.evidence)


def _with_provider(data, name, host, endpoint):
    def change(d):
        d["target"]["host"] = host
        d["identity"]["provider"] = {"name": name, "region": "eu-west-1", "endpoint": endpoint,
                                     "pooler": False, "evidence": [f"test: {name}"]}
    return variant(data, change)


TIMELINE = parse_timeline((FIXTURES / "demo-timeline.csv").read_text(), "t.csv")


@pytest.mark.parametrize("name, host, endpoint, expect", [
    ("rds", "shop-db.c9akciq32.eu-west-1.rds.amazonaws.com", "shop-db",
     "aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier shop-db"),
    ("cloudsql", "/cloudsql/proj:europe-west1:shop", "shop",
     "gcloud sql instances clone shop shop-restore-20260201-1429 "
     "--point-in-time=2026-02-01T14:29:00Z"),
    ("self-hosted", "10.0.0.8", None, "recovery_target_time = '2026-02-01T14:29:00Z'"),
    ("azure", "shop.postgres.database.azure.com", "shop",
     "az postgres flexible-server restore --resource-group <RESOURCE_GROUP>"),
])
def test_each_provider_gets_its_own_commands(demo_bundle_data, name, host, endpoint, expect):
    a = analyze(_with_provider(demo_bundle_data, name, host, endpoint), timeline=TIMELINE)
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    text = "\n".join(pitr.commands)
    assert expect in text
    everything = " ".join(" ".join(o.commands + o.steps) for o in a.recovery_options).lower()
    assert "neon" not in everything


def test_demo_recommends_refake_and_offers_a_neon_branch(demo_bundle):
    a = analyze(demo_bundle, timeline=TIMELINE)
    assert a.recovery_options[0].id == "refake_verified" and a.recovery_options[0].recommended
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    first = min(e.time for e in TIMELINE)
    assert pitr.restore_point is not None and pitr.restore_point < first
    assert pitr.commands[0] == ("neon branches create --project-id <PROJECT_ID> --name "
                                "restore-20260201-1429 --parent 2026-02-01T14:29:00Z")
    assert "ep-lively-queen-a13dp7w6" in pitr.title
    assert "beyond the longest window" in (pitr.window_check or "")  # collected months later


def test_fk_order_puts_parents_first():
    def rel(name, *parents):
        return Relation(schema_name="s", name=name, kind="table", owner="o", row_estimate=1,
                        estimated_bytes=0, total_bytes=0, index_count=0, readable=True,
                        live_tuples=1, dead_tuples=0, inserted_tuples=1, updated_tuples=0,
                        deleted_tuples=0, last_analyze=None, last_vacuum=None,
                        foreign_keys=[ForeignKey(name=f"{name}_{p}_fk", columns=[f"{p}_id"],
                                                 ref_schema="s", ref_table=p, ref_columns=["id"])
                                      for p in parents])
    tables = [rel("items", "orders"), rel("orders", "customers"), rel("customers")]
    assert [t.name for t in fk_order(tables)] == ["customers", "orders", "items"]


SHOP = """
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers(id));
CREATE TABLE order_items (id int PRIMARY KEY,
                          order_id int CONSTRAINT order_items_order_fk REFERENCES orders(id));
CREATE TABLE payments (id int PRIMARY KEY, "Order Ref" int REFERENCES orders(id));
CREATE TABLE audit (id int PRIMARY KEY);
INSERT INTO customers VALUES (1, 'a'); INSERT INTO orders VALUES (1, 1);
INSERT INTO order_items VALUES (1, 1); INSERT INTO payments VALUES (1, 1);
"""


def test_dropped_table_with_baseline_gets_restore_plus_selective_repair(db):
    db.execute(SHOP)
    before = collect_bundle(db.source(), exact_counts=True)
    db.execute("DROP TABLE orders CASCADE")
    after = collect_bundle(db.source(), exact_counts=True)
    a = analyze(after, baseline=before)
    assert a.data_loss == "confirmed"
    rec = a.recovery_options[0]
    assert rec.id == "pitr_new_branch" and rec.recommended
    assert "selective repair of public.orders" in rec.why
    repair = next(o for o in a.recovery_options if o.id == "selective_repair")
    assert repair.subjects == ["public.orders", "public.order_items", "public.payments"]
    assert repair.commands[0].startswith("pg_dump --format=custom --no-owner --strict-names "
                                         "-t '\"public\".\"orders\"' ")
    script = repair.script or ""
    assert ('ALTER TABLE "public"."order_items" ADD CONSTRAINT "order_items_order_fk" FOREIGN '
            'KEY ("order_id") REFERENCES "public"."orders" ("id") NOT VALID;') in script
    assert 'FOREIGN KEY ("Order Ref") REFERENCES "public"."orders" ("id")' in script
    assert "audit" not in script and "customers" not in " ".join(repair.subjects)
    fix = next(p for p in a.action_plan if p.phase == "fix")
    sh = repair.files[0]  # the file to run: it dumps and restores, then runs the SQL
    assert sh.name.endswith(".sh") and "\npg_dump --format=custom" in sh.content
    assert any(i.command == sh.run == f"bash {sh.name}" for i in fix.items)


@pytest.mark.parametrize("name", sorted(RESTORES))
def test_every_provider_entry_restores_into_a_new_copy(demo_bundle_data, name):
    """Each provider is one entry of reportgen/analyze/providers.py: its option says what a
    new copy is called, restores as of the restore point, and either prints the provider's
    commands or names its console; recovery.py itself knows no provider."""
    entry = RESTORES[name]
    a = analyze(_with_provider(demo_bundle_data, name, "db.example", "prod-1"),
                timeline=TIMELINE)
    pitr = next(o for o in a.recovery_options if o.id == "pitr_new_branch")
    assert pitr.title == entry.title.format(endpoint="prod-1")
    assert list(pitr.cons) == list(entry.cons)
    assert (pitr.commands != []) == (entry.console is None)
    text = " ".join(pitr.commands + pitr.steps)
    assert "2026-02-01T14:29:00Z" in text or "2026-02-01 14:29+00" in text
    assert f"NEW {entry.noun}" in text or entry.console is not None
    source = (Path(__file__).parents[1] / "reportgen" / "analyze" / "recovery.py").read_text()
    if name != "unknown":  # the entry used for any provider not listed
        assert f'"{name}"' not in source
