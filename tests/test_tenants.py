"""Schema per tenant where the layout cannot be read whole: django-tenants (from PyPI) lays
out the database, and the collecting role may not read the tenant table. Public's records
list every migration, the tenant apps' included, whose tables live only in the tenant
schemas: nothing is called missing, and the tenants are NOT JUDGED, said in the headline.
(Every tenant judged, case by case and fixed on copies, is tests/test_tenant_incidents.py.)"""

from __future__ import annotations

import os

import pytest

from reportgen.analyze import analyze
from reportgen.collect.run import collect_bundle
from tests.tenant_site import TenantSite

pytestmark = pytest.mark.slow


def test_tenants_are_not_judged_when_the_tenant_table_cannot_be_read(server, tmp_path):
    site = TenantSite(server, tmp_path, "tenants")
    site.drop()
    try:
        site.build(["acme", "globex"])
        db = site.db
        assert db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'django_migrations'"
                         ) == 3
        assert db.scalar("SELECT count(*) FROM public.django_migrations WHERE app = 'knox'")
        assert not db.scalar("SELECT to_regclass('public.knox_authtoken') IS NOT NULL")
        db.execute("DROP ROLE IF EXISTS tenant_reader; "
                   "CREATE ROLE tenant_reader LOGIN PASSWORD 'r3ader'; "
                   "GRANT USAGE ON SCHEMA public, acme, globex TO tenant_reader; "
                   "GRANT SELECT ON ALL TABLES IN SCHEMA public, acme, globex TO tenant_reader; "
                   "REVOKE SELECT ON public.customers_client FROM tenant_reader")
        os.environ.update({k: v for k, v in site.env().items() if k.startswith("T_")})
        dsn = server.dsn("tenants", user="tenant_reader", password="r3ader")
        a = analyze(collect_bundle(db.source(dsn), project=site.root,
                                   django_settings="tenantsite.test_settings"))
        ids = {f.id for f in a.findings}
        assert "data.tables_missing" not in ids and "schema.recorded_but_missing" not in ids
        assert "TABLES MISSING" not in a.status and "TABLES INTACT" not in a.status
        assert "TENANT SCHEMA(S) NOT JUDGED" in a.status, a.status
        assert a.tenants is not None and a.tenants.error is not None
        assert "customers_client" in a.tenants.error
        assert {r.verdict for r in a.tenants.rows} == {"not_judged"}
        assert "tenant.layout_unread" in ids
        assert a.data_loss == "unknown" and a.risks["data"] != "CRITICAL"
    finally:
        site.drop()
        server.psql("DROP ROLE IF EXISTS tenant_reader")
