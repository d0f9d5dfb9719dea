"""A polite crawler that fills the private web index: robots.txt, a rate limit, size limits,
main-text extraction, no private addresses unless allowed, redirects checked hop by hop."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.robotparser
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

from core.errors import DaertError, InputError
from core.version import __version__
from knowledge.ingest.loaders import from_bytes_as
from knowledge.ingest.pipeline import Ingestor, SourceResult
from tools.web_search.ports import canonical_url
from tools.web_search.ssrf import check_url

USER_AGENT = f"daert-crawler/{__version__} (+self-hosted assistant; respects robots.txt)"
TEXT_TYPES = {
    "text/html": ".html", "application/xhtml+xml": ".html", "text/plain": ".txt",
    "text/markdown": ".md", "application/pdf": ".pdf",
}  # fmt: skip


@dataclass
class CrawlOptions:
    depth: int = 1
    same_site: bool = True
    max_pages: int = 50
    delay: float = 1.0  # seconds between requests to one host (robots.txt may ask for more)
    max_bytes: int = 10 * 1024 * 1024
    allow_private: bool = False
    timeout: float = 20.0


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes


@dataclass
class CrawlReport:
    results: list[SourceResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _links(html: str, base: str) -> list[str]:
    from bs4 import BeautifulSoup  # noqa: PLC0415

    out = []
    for tag in BeautifulSoup(html, "html.parser").find_all("a", href=True):
        href = urljoin(base, str(tag["href"]))
        if urlsplit(href).scheme in {"http", "https"}:
            out.append(href.split("#")[0])
    return out


class Crawler:
    def __init__(self, ingestor: Ingestor, options: CrawlOptions | None = None) -> None:
        self.ingestor = ingestor
        self.options = options or CrawlOptions()
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._last_hit: dict[str, float] = {}

    async def _get(self, client: httpx.AsyncClient, url: str) -> Fetched:
        """GET with each redirect target checked against the SSRF guard, body size capped."""
        for _ in range(6):
            check_url(url, allow_private=self.options.allow_private)
            await self._pace(url)
            async with client.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                body = bytearray()
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) > self.options.max_bytes:
                        raise InputError(f"{url} is over the size limit", code="source_too_large")
                ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return Fetched(url, response.status_code, ctype, bytes(body))
        raise InputError(f"too many redirects from {url}", code="source_unreachable")

    async def _pace(self, url: str) -> None:
        host = urlsplit(url).netloc
        robots = self._robots.get(host)
        delay = self.options.delay
        if robots is not None:
            delay = max(delay, float(robots.crawl_delay(USER_AGENT) or 0))
        wait = self._last_hit.get(host, 0.0) + delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_hit[host] = time.monotonic()

    async def _allowed(self, client: httpx.AsyncClient, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.netloc
        if host not in self._robots:
            robots = urllib.robotparser.RobotFileParser()
            try:
                robots_txt = await self._get(client, f"{parts.scheme}://{host}/robots.txt")
                ok = robots_txt.status == 200
                lines = robots_txt.body.decode("utf-8", "replace").splitlines() if ok else []
            except (httpx.HTTPError, InputError):
                lines = []
            robots.parse(lines)
            self._robots[host] = robots
        return self._robots[host].can_fetch(USER_AGENT, url)

    async def crawl(
        self, start: str, *, on_page: Callable[[SourceResult], None] | None = None
    ) -> CrawlReport:
        check_url(start, allow_private=self.options.allow_private)
        await self.ingestor.prepare()
        report = CrawlReport()
        seen = {canonical_url(start)}
        queue: deque[tuple[str, int]] = deque([(start, 0)])
        site = urlsplit(start).netloc
        headers = {"User-Agent": USER_AGENT}
        async with httpx.AsyncClient(headers=headers, timeout=self.options.timeout) as client:
            while queue and len(report.results) < self.options.max_pages:
                url, depth = queue.popleft()
                try:
                    if not await self._allowed(client, url):
                        report.skipped[url] = "robots.txt"
                        continue
                    page = await self._get(client, url)
                    if page.status != 200:
                        report.skipped[url] = f"HTTP {page.status}"
                        continue
                    suffix = TEXT_TYPES.get(page.content_type)
                    if suffix is None:
                        report.skipped[url] = f"not text ({page.content_type or 'no type'})"
                        continue
                    fetched = dt.datetime.now(dt.UTC).isoformat()
                    doc = from_bytes_as(page.body, url, suffix, fetched=fetched)
                    doc.metadata["type"] = "web"
                    doc.metadata["site"] = urlsplit(url).netloc
                    if doc.title is None or doc.title == PurePosixPath(urlsplit(url).path).name:
                        doc.title = url
                    result = await self.ingestor.ingest_loaded(doc)
                except DaertError as err:
                    result = SourceResult(url, "failed", error=err.message, code=err.code)
                    report.results.append(result)
                    if on_page:
                        on_page(result)
                    continue
                report.results.append(result)
                if on_page:
                    on_page(result)
                if depth < self.options.depth and suffix == ".html":
                    for link in _links(page.body.decode("utf-8", "replace"), page.url):
                        key = canonical_url(link)
                        if key in seen:
                            continue
                        if self.options.same_site and urlsplit(link).netloc != site:
                            report.skipped[link] = "other site"
                            continue
                        seen.add(key)
                        queue.append((link, depth + 1))
        return report
