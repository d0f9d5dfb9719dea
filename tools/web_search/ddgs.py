"""Web search on DuckDuckGo through the `ddgs` package: no key and no server, but throttled.

The search runs on ddgs's own engine for the backend (its request, HTTP client and HTML
parsing) rather than the `DDGS` facade: the facade reports a rate limit (HTTP 202 with the
bot-check page, or 429) and a page with no results alike, as "No results found.", and
`RatelimitException` is raised nowhere in ddgs 9. The engine is subclassed only to keep the
HTTP status and page that its `request` drops, so both can be told apart here.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ddgs.base import BaseSearchEngine
from ddgs.engines import ENGINES
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
from ddgs.http_client import HttpClient
from ddgs.results import TextResult

from core.errors import ConfigError, InputError, ServiceError
from tools.web_search.ports import WebResult, dedupe

ELSEWHERE = (
    "set TAVILY_API_KEY or DAERT_SEARXNG_URL, or crawl pages into the private index "
    "with `daert crawl`"
)
# DuckDuckGo throttles with 202 and its bot-check ("anomaly") page, sometimes 403 or 429.
THROTTLED_STATUSES = frozenset({202, 403, 429})
# Attribute-anchored, so a query echoed (HTML-escaped) into a result page cannot match.
CHALLENGE_MARKERS = ('class="anomaly-modal', 'action="//duckduckgo.com/anomaly.js')


class _StatusKeeping:
    """Mixed into a ddgs engine: a refusal raises instead of reading as an empty page."""

    http_client: HttpClient
    page: str = ""

    def request(self, *args: Any, **kwargs: Any) -> str:
        response = self.http_client.request(*args, **kwargs)
        if response.status_code in THROTTLED_STATUSES:
            raise RatelimitException(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise DDGSException(f"HTTP {response.status_code}")
        self.page = str(response.text)
        return self.page


class DuckDuckGoSearch:
    name = "duckduckgo"

    def __init__(
        self,
        *,
        backend: str = "duckduckgo",
        region: str = "us-en",
        timeout: int = 10,
        proxy: str | None = None,
        verify: bool | str = True,
    ) -> None:
        engine = ENGINES["text"].get(backend)
        if engine is None:
            raise ConfigError(
                f"ddgs has no text search backend {backend!r}",
                hint=f"choose one of: {', '.join(sorted(ENGINES['text']))}",
                code="web_search_misconfigured",
            )
        self._engine = cast(
            type[BaseSearchEngine[TextResult]],
            type(f"StatusKeeping{engine.__name__}", (_StatusKeeping, engine), {}),
        )
        self.name = backend
        self.region = region
        self.timeout = timeout
        self.proxy = proxy
        self.verify = verify

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]:
        if not query.strip():
            raise InputError("empty search query", code="web_query_empty")
        if k < 1:
            raise InputError(f"k must be at least 1, not {k}", code="web_query_invalid")
        try:
            hits = await asyncio.to_thread(self._search, query)
        except RatelimitException as err:
            raise ServiceError(
                f"DuckDuckGo is refusing searches from this machine for now ({err})",
                hint=f"retry in a few minutes, or {ELSEWHERE}",
                code="web_search_rate_limited",
            ) from err
        except TimeoutException as err:
            raise ServiceError(
                f"DuckDuckGo did not answer within {self.timeout} s",
                hint=f"check this machine's connection, or {ELSEWHERE}",
                code="web_search_timeout",
            ) from err
        except DDGSException as err:
            raise ServiceError(
                f"DuckDuckGo is unreachable: {err}", hint=ELSEWHERE, code="web_search_unavailable"
            ) from err
        results = [
            WebResult(
                title=hit.title or hit.href,
                url=hit.href,
                snippet=hit.body,
                content=hit.body,
                score=1 / rank,
                provider=self.name,
            )
            for rank, hit in enumerate((h for h in hits if h.href), start=1)
        ]
        return dedupe(results)[:k]

    def _search(self, query: str) -> list[TextResult]:
        """One page of results, in DuckDuckGo's order (blocking: run in a thread)."""
        engine = self._engine(proxy=self.proxy, timeout=self.timeout, verify=self.verify)
        hits = engine.search(query, region=self.region) or []
        page = cast(_StatusKeeping, engine).page
        if not hits and any(marker in page for marker in CHALLENGE_MARKERS):
            raise RatelimitException("bot-check page")
        return hits
