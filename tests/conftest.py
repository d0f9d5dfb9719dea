"""Shared fixtures: a clean environment, and the real embedded stack brought up once per run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daert.services.plan import build_supervisor
from daert.services.state import ServiceRecord
from daert.services.supervisor import Supervisor
from daert.settings import Settings, load_settings
from knowledge.graph.neo4j import Neo4jGraphStore
from knowledge.vector.pgvector import PgVectorStore
from tests.support.neo4j import Neo4jServer, neo4j_server

# The developer's own DAERT_* variables must not leak into tests.
for _name in [n for n in os.environ if n.startswith("DAERT_")]:
    del os.environ[_name]


SERVICE_FIXTURES = {"stack", "store", "neo4j", "neo4j_graph"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the real services is `slow`, whether or not its module says so."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@dataclass
class Stack:
    settings: Settings
    supervisor: Supervisor
    records: dict[str, ServiceRecord]

    def url(self, name: str) -> str:
        return self.records[name].url


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL+pgvector, Redis+FalkorDB and the llama.cpp model, real, in a temp data dir."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("stack") / "data")
    supervisor = build_supervisor(settings)
    records = supervisor.up(detached=False, progress=print)
    try:
        yield Stack(settings, supervisor, records)
    finally:
        supervisor.down()


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[PgVectorStore]:
    """The knowledge base's VectorStore on the embedded PostgreSQL + pgvector."""
    pg = PgVectorStore(stack.url("postgres"))
    await pg.setup()
    yield pg
    await pg.aclose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """A real Neo4j 5 server (built from Maven Central artifacts) on loopback, with auth."""
    with neo4j_server(tmp_path_factory.mktemp("neo4j")) as running:
        yield running


@pytest.fixture
def neo4j_graph(neo4j: Neo4jServer) -> Neo4jGraphStore:
    return Neo4jGraphStore(neo4j.url, neo4j.user, neo4j.password)
