"""A dependency that refuses connections is a ServiceError with a hint, found out in seconds.

Each adapter is the real one, pointed at a port on which nothing listens.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.errors import ServiceError
from core.net import free_port
from daert.reach import check_postgres, with_connect_timeout
from daert.settings import load_settings
from knowledge.graph.falkordb import FalkorGraphStore
from knowledge.ingest.stream import StreamIngestor
from memory.semantic_cache.ports import CacheScope
from memory.semantic_cache.redis import RedisSemanticCache
from tests.support.assistant import open_assistant

pytestmark = pytest.mark.timeout(60)  # "fail fast": far below the 90 s a pool used to wait


def refused(scheme: str) -> str:
    port = free_port()
    if scheme == "postgresql":
        return f"postgresql://daert:secret@127.0.0.1:{port}/daert"
    return f"redis://127.0.0.1:{port}/0"


def test_a_falkordb_that_refuses_connections_is_a_service_error() -> None:
    """Its client asks the server at once whether it is a cluster: that is where it fails."""
    with pytest.raises(ServiceError) as caught:
        FalkorGraphStore(refused("redis"), graph=f"g{uuid.uuid4().hex[:6]}")
    assert caught.value.code == "graph_unavailable"
    assert "DAERT_FALKORDB_URL" in caught.value.hint


async def test_a_cache_that_refuses_connections_is_a_service_error() -> None:
    cache = RedisSemanticCache(refused("redis"))
    scope = CacheScope(alias="chat")
    try:
        for action in (
            cache.lookup("q", [0.1, 0.2], scope),
            cache.store("q", [0.1, 0.2], "a", scope),
            cache.stats(),
            cache.clear(),
            cache.knowledge_changed("default"),
        ):
            with pytest.raises(ServiceError) as caught:
                await action
            assert caught.value.code == "cache_down" and caught.value.hint
    finally:
        await cache.aclose()


async def test_a_stream_on_a_redis_that_refuses_connections_is_a_service_error() -> None:
    worker = StreamIngestor(refused("redis"), lambda _: pytest.fail("no entry to ingest"))
    try:
        with pytest.raises(ServiceError) as caught:
            await worker.setup()
        assert caught.value.code == "redis_unreachable" and "DAERT_REDIS_URL" in caught.value.hint
    finally:
        await worker.aclose()


async def test_an_external_postgres_that_is_down_is_named_with_the_fix(tmp_path: Path) -> None:
    url = refused("postgresql")
    settings = load_settings(data_dir=tmp_path / "d", postgres_url=url)
    with pytest.raises(ServiceError) as caught:
        await check_postgres(settings, url)
    error = caught.value
    assert error.code == "postgres_unreachable"
    assert "secret" not in error.message and "127.0.0.1" in error.message
    assert "DAERT_POSTGRES_URL" in error.hint


async def test_the_assistant_fails_fast_when_its_postgres_is_down(tmp_path: Path) -> None:
    """Was: the connection pool retried for 90 s (DAERT_START_TIMEOUT), then a traceback."""
    settings = load_settings(
        data_dir=tmp_path / "d",
        postgres_url=refused("postgresql"),
        redis_url=refused("redis"),
        model_url="http://127.0.0.1:9/v1",
    )
    with pytest.raises(ServiceError) as caught:
        async with open_assistant(settings):
            pytest.fail("the assistant opened without PostgreSQL")
    assert caught.value.code == "postgres_unreachable"


def test_every_postgres_connection_gets_a_connect_timeout_unless_the_url_names_one() -> None:
    assert "connect_timeout=5" in with_connect_timeout("postgresql://u:p@db.example:5432/x")
    named = "postgresql://u:p@db.example:5432/x?connect_timeout=30"
    assert with_connect_timeout(named) == named
