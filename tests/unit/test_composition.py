"""The composition root picks web search adapters from settings alone (no I/O to decide), and
its online probe answers as soon as it knows."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from daert.adapters import build_vector_store, build_web_search, online
from daert.services.plan import Endpoints
from daert.settings import load_settings
from knowledge.vector.pgvector import PgVectorStore
from tools.web_search.ddgs import DuckDuckGoSearch
from tools.web_search.index import IndexSearch
from tools.web_search.searxng import SearxngSearch
from tools.web_search.tavily import TavilySearch

URLS = Endpoints(postgres="postgresql://u:p@127.0.0.1:1/db", redis=None, falkordb=None, model=None)


class NoEmbedder:
    name = "none"
    dimension = 3

    async def embed(self, texts: object) -> list[list[float]]:
        raise AssertionError("not called when choosing an adapter")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"tavily_api_key": "tvly-x"}, TavilySearch),
        ({"searxng_url": "http://127.0.0.1:9/"}, SearxngSearch),
        ({"web_search": "duckduckgo"}, DuckDuckGoSearch),
        ({"web_search": "index"}, IndexSearch),
    ],
)
def test_web_search_adapter_follows_the_settings(
    settings: dict[str, str], expected: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    store = build_vector_store(URLS)

    async def shared() -> PgVectorStore:
        return store

    chosen = asyncio.run(build_web_search(load_settings(None, **settings), NoEmbedder(),
                                          store=shared))  # fmt: skip
    assert isinstance(chosen, expected)


def test_the_index_shares_the_store_it_is_given() -> None:
    store = build_vector_store(URLS)

    async def shared() -> PgVectorStore:
        return store

    settings = load_settings(None, web_search="index")
    chosen = asyncio.run(build_web_search(settings, NoEmbedder(), store=shared))
    assert isinstance(chosen, IndexSearch) and chosen.store is store


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that nothing listens on: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]  # bound, never listening: no one else can take it


# A probe that waited out its timeout (an hour here) would outlive each test's time limit.
@pytest.mark.timeout(30)
def test_a_refused_connection_is_offline_at_once(closed_port: int) -> None:
    assert online(f"http://127.0.0.1:{closed_port}/", timeout=3600) is False


@pytest.mark.timeout(30)
def test_a_malformed_host_name_is_offline_at_once() -> None:
    assert online("https://bad..name/", timeout=3600) is False


@pytest.mark.timeout(30)
def test_a_listening_port_is_online() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert online(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=3600) is True
