"""Tavily search through the official `tavily-python` client."""

from __future__ import annotations

import httpx
from tavily import AsyncTavilyClient
from tavily import errors as tavily_errors

from core.errors import ConfigError, InputError, ServiceError
from tools.web_search.ports import WebResult, dedupe


class TavilySearch:
    name = "tavily"

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout: float = 30) -> None:
        self._client = AsyncTavilyClient(api_key=api_key, api_base_url=base_url)
        self.timeout = timeout

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]:
        if not query.strip():
            raise InputError("empty search query", code="web_query_empty")
        try:
            answer = await self._client.search(
                query, max_results=k, include_raw_content="text", timeout=self.timeout
            )
        except tavily_errors.InvalidAPIKeyError as err:
            raise ConfigError(
                "Tavily refused the API key",
                hint="check TAVILY_API_KEY (or unset it to search the private index)",
                code="web_search_key_invalid",
            ) from err
        except tavily_errors.UsageLimitExceededError as err:
            raise ServiceError(
                "Tavily's usage limit is reached",
                hint="retry later",
                code="web_search_rate_limited",
            ) from err
        except tavily_errors.TimeoutError as err:
            raise ServiceError("Tavily did not answer in time", code="web_search_timeout") from err
        except tavily_errors.BadRequestError as err:
            raise InputError(f"Tavily rejected the query: {err}", code="web_query_invalid") from err
        except (httpx.HTTPError, tavily_errors.ForbiddenError) as err:
            raise ServiceError(
                f"Tavily is unreachable: {err}", code="web_search_unavailable"
            ) from err
        results = [
            WebResult(
                title=str(item.get("title") or item.get("url")),
                url=str(item["url"]),
                snippet=str(item.get("content") or ""),
                content=str(item.get("raw_content") or item.get("content") or ""),
                score=float(item.get("score") or 0.0),
                provider=self.name,
            )
            for item in answer.get("results", [])
            if item.get("url")
        ]
        return dedupe(results)[:k]
