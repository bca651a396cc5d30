"""``reportgen demo --keep``: the demo's server stays up and its project becomes a Django
project you can run, so the report's fix can be tried by hand and judged by Django itself.

Beside the outputs: ``demo-server/`` (the cluster, its binaries recorded in server.json) and,
in ``demo-project/``, ``manage.py`` and ``demo_settings.py``, whose connection is read from
``connection.json`` (mode 0600: it holds the demo role's password). ``reportgen demo --stop``
stops the server and removes ``demo-server/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from reportgen.demo.run import DEMO_DB, DEMO_ROLE
from reportgen.errors import InputError, OutputError
from reportgen.fileio import write_atomic
from reportgen.pgserver import Binaries, LocalServer
from reportgen.quoting import shell_word

SERVER_DIR = "demo-server"
PROJECT_DIR = "demo-project"
CONNECTION_FILE = "connection.json"
SETTINGS_MODULE = "demo_settings"

SETTINGS = '''"""Settings for the demo project (written by reportgen demo)."""
import json
from pathlib import Path

_conn = json.loads((Path(__file__).resolve().parent / "connection.json").read_text())
SECRET_KEY = "reportgen-demo-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SILENCED_SYSTEM_CHECKS = ["admin.E403", "admin.E406", "admin.E408", "admin.E409", "admin.E410"]
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.sites",
{apps}
]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": _conn["dbname"],
    "USER": _conn["user"], "PASSWORD": _conn["password"], "HOST": _conn["host"],
    "PORT": _conn["port"], "OPTIONS": {{"sslmode": "disable"}},
}}}}
'''

MANAGE = '''#!/usr/bin/env python
"""The demo project's manage.py (written by reportgen demo)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
'''


def server_dir(out: Path) -> Path:
    return out / SERVER_DIR


def kept_server(out: Path, binaries: Binaries) -> LocalServer:
    """A server whose cluster lives in ``out/demo-server`` (not removed when it stops).
    Refused while a kept demo server from an earlier run is still up there."""
    where = server_dir(out)
    if (where / "data" / "postmaster.pid").exists():
        raise OutputError(f"a demo server kept by an earlier run is still running in {where}: "
                          f"stop it first (reportgen demo --stop --out {out})")
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    # TCP only: a Unix socket's path may not exceed 107 bytes, and --out may be deep.
    return LocalServer(binaries, workdir=where, settings={"unix_socket_directories": "''"})


def django_project(out: Path, server: LocalServer) -> Path:
    """manage.py, the settings and the connection file beside the planted apps: the demo's
    project becomes one Django runs (the rehearsal's, and --keep's)."""
    project = out / PROJECT_DIR
    apps = sorted(p.name for p in (project / "apps").iterdir()
                  if (p / "migrations").is_dir())
    (project / "apps" / "__init__.py").write_text("")
    (project / f"{SETTINGS_MODULE}.py").write_text(SETTINGS.format(
        apps="\n".join(f'    "apps.{a}",' for a in apps)))
    (project / "manage.py").write_text(MANAGE.format(settings=SETTINGS_MODULE))
    write_atomic(project / CONNECTION_FILE, (json.dumps({
        "host": "127.0.0.1", "port": str(server.port), "dbname": DEMO_DB, "user": DEMO_ROLE,
        "password": server.password}, indent=2) + "\n").encode(), mode=0o600)
    return project


def write_project(out: Path, server: LocalServer) -> list[str]:
    """The project (django_project) and the kept server's record; the commands that try the
    fix and ask Django (returned, to be printed)."""
    project = django_project(out, server)
    write_atomic(server_dir(out) / "server.json", (json.dumps({
        "bindir": str(server.binaries.bindir), "port": server.port}) + "\n").encode())
    fixes = sorted((out / "fix").glob("option-*.py"))
    fix = f"../fix/{fixes[0].name}" if fixes else "../fix/option-1.py"
    # The interpreter reportgen runs in has Django (the demo extra): named in full, the
    # commands work whatever `python` is on the PATH.
    python = shell_word(sys.executable)
    return [f"cd {shell_word(str(project))}",
            f"{python} manage.py shell < {fix}",
            f"{python} manage.py showmigrations",
            f"{python} manage.py migrate --plan"]


def stop_kept(out: Path) -> str:
    """Stop the server ``demo --keep`` left running in ``out`` and remove its cluster."""
    where = server_dir(out)
    info = where / "server.json"
    if not info.is_file():
        raise InputError(f"no demo server kept in {where} (nothing to stop); give the --out "
                         "of the run that used --keep")
    bindir = Path(json.loads(info.read_text())["bindir"])
    data = where / "data"
    if (data / "postmaster.pid").exists():
        server = LocalServer(Binaries(bindir=bindir, version="", origin="kept demo"),
                             workdir=where)
        try:
            server._run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError as exc:
            raise OutputError(f"could not stop the demo server in {where}: "
                              f"{exc.stderr.strip()}") from None
    shutil.rmtree(where, ignore_errors=True)
    (out / PROJECT_DIR / CONNECTION_FILE).unlink(missing_ok=True)
    return f"stopped the demo server and removed {where}"
