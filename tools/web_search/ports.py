"""The WebSearch port and its normalised result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass(frozen=True)
class WebResult:
    title: str
    url: str
    snippet: str
    content: str
    score: float
    provider: str


class WebSearch(Protocol):
    name: str

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]: ...


def canonical_url(url: str) -> str:
    """The URL as a key: lower-case host, no fragment, no tracking parameters or trailing slash."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith("utm_")]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(query), ""))


def dedupe(results: list[WebResult]) -> list[WebResult]:
    """One result per page (the best-scored), best first."""
    best: dict[str, WebResult] = {}
    for result in results:
        key = canonical_url(result.url)
        if key not in best or result.score > best[key].score:
            best[key] = result
    return sorted(best.values(), key=lambda r: r.score, reverse=True)
