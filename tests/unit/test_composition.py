"""The composition root picks web search adapters from settings alone (no I/O to decide)."""

from __future__ import annotations

import pytest

from daert.runtime import Endpoints, build_web_search
from daert.settings import load_settings
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
    chosen = build_web_search(load_settings(None, **settings), URLS, NoEmbedder())
    assert isinstance(chosen, expected)
