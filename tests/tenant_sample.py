"""The schema-per-tenant sample (sample_reports/tenants/): a django-tenants database
(django-tenants, django-taggit and django-rest-knox from PyPI, every schema migrated by
migrate_schemas) after a bad night: one tenant's rollout stopped after taggit's 0003, one
tenant's knox records deleted, one tenant's django_migrations dropped, one tenant's
taggit_taggeditem dropped. ``reportgen assess --django-settings`` reads it as a responder
would. The server is stopped afterwards; the report stays.

    python -m tests.tenant_sample OUT
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from reportgen.pgserver import LocalServer, available_binaries
from tests.tenant_site import SETTINGS, TenantSite


def main(out: Path) -> int:
    out = out.resolve()
    work = out.parent / f"{out.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with LocalServer(available_binaries()[-1]) as srv:
        site = TenantSite(srv, work, "saas")
        site.build(["acme", "globex", "hooli", "initech", "umbrella"],
                   partial={"initech": ("taggit", "0003_taggeditem_add_unique_index")})
        site.db.execute("DELETE FROM globex.django_migrations WHERE app = 'knox'")
        site.db.execute("DROP TABLE hooli.django_migrations")
        site.db.execute("DROP TABLE umbrella.taggit_taggeditem")
        return subprocess.run([sys.executable, "-m", "reportgen", "assess", "--dsn",
                               srv.dsn("saas"), "--project", ".", "--django-settings", SETTINGS,
                               "--title", "Tenant migrations after the 02:00 rollout",
                               "--out", str(out), "--format", "md,html,pdf"],
                              cwd=site.root, env=site.env(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
