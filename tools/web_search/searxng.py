"""Web search through a SearXNG instance's JSON API (`format=json` must be enabled on it)."""

from __future__ import annotations

import httpx

from core.errors import ConfigError, InputError, ServiceError
from tools.web_search.ports import WebResult, dedupe


class SearxngSearch:
    name = "searxng"

    def __init__(self, url: str, *, timeout: float = 20) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]:
        if not query.strip():
            raise InputError("empty search query", code="web_query_empty")
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(
                    f"{self.url}/search", params={"q": query, "format": "json"}
                )
        except httpx.HTTPError as err:
            raise ServiceError(
                f"SearXNG at {self.url} is unreachable: {err}", code="web_search_unavailable"
            ) from err
        if response.status_code == 403:
            raise ConfigError(
                f"SearXNG at {self.url} refuses JSON output",
                hint="enable `json` under search.formats in its settings.yml",
                code="web_search_misconfigured",
            )
        if response.status_code != 200:
            raise ServiceError(
                f"SearXNG answered HTTP {response.status_code}", code="web_search_unavailable"
            )
        items = response.json().get("results", [])
        results = [
            WebResult(
                title=str(item.get("title") or item["url"]),
                url=str(item["url"]),
                snippet=str(item.get("content") or ""),
                content=str(item.get("content") or ""),
                score=float(item.get("score") or 0.0),
                provider=self.name,
            )
            for item in items
            if item.get("url")
        ]
        return dedupe(results)[:k]
