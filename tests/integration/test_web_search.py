"""Web search: Tavily's real client against a local Tavily API, and the polite crawler
against a local site, into the real PostgreSQL + pgvector index."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.embeddings.local import LocalMiniLM
from agents.testing.tavily_double import TavilyDouble
from core.errors import ConfigError, InputError
from knowledge.ingest.pipeline import Ingestor
from knowledge.vector.pgvector import PgVectorStore
from knowledge.vector.ports import SearchOptions
from tools.web_search.crawl import Crawler, CrawlOptions
from tools.web_search.index import IndexSearch
from tools.web_search.ports import WebResult, canonical_url, dedupe
from tools.web_search.ssrf import check_url
from tools.web_search.tavily import TavilySearch

EMBEDDER = LocalMiniLM()


async def test_tavily_results_are_normalised_and_deduplicated() -> None:
    results = [
        {"title": "A", "url": "https://a.example/x?utm_source=t", "content": "short", "score": 0.4},
        {
            "title": "A again",
            "url": "https://A.example/x/",
            "content": "s",
            "score": 0.9,
            "raw_content": "the full page",
        },
        {"title": "B", "url": "https://b.example/", "content": "b", "score": 0.5},
    ]
    with TavilyDouble(results=results) as tavily:
        search = TavilySearch(tavily.api_key, base_url=tavily.url)
        found = await search.search("what is a?", k=5)
        assert [(r.title, r.content, r.provider) for r in found] == [
            ("A again", "the full page", "tavily"),
            ("B", "b", "tavily"),
        ]
        assert tavily.requests[0]["query"] == "what is a?"
        with pytest.raises(ConfigError) as caught:
            await TavilySearch("wrong", base_url=tavily.url).search("x")
        assert caught.value.code == "web_search_key_invalid"
        with pytest.raises(InputError):
            await search.search("   ")


def test_canonical_urls_and_dedupe() -> None:
    assert canonical_url("HTTPS://Ex.org/a/?utm_medium=x&q=1#top") == "https://ex.org/a?q=1"
    one = WebResult("t", "https://ex.org/a", "", "", 0.1, "p")
    two = WebResult("t2", "https://ex.org/a/#x", "", "", 0.3, "p")
    assert dedupe([one, two]) == [two]


def test_private_addresses_are_refused_unless_allowed() -> None:
    refused = [
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "gopher://x/",
    ]
    for url in refused:
        with pytest.raises(InputError) as caught:
            check_url(url)
        assert caught.value.code == "url_not_allowed", url
    assert check_url("http://127.0.0.1:8080/", allow_private=True)


SITE = {
    "index.html": "<html><head><title>Home</title></head><body><main><h1>Home</h1>"
    '<p>Welcome to the orchard.</p><a href="apples.html">apples</a> <a href="/private/x.html">x</a>'
    ' <a href="pears.html#top">pears</a> <a href="photo.png">photo</a>'
    ' <a href="http://other.invalid/">elsewhere</a></main></body></html>',
    "apples.html": "<html><head><title>Apples</title></head><body><main><p>Apples ripen in "
    'September; pick them when the seeds turn brown.</p><a href="deep.html">deeper</a>'
    "</main></body></html>",
    "pears.html": "<html><head><title>Pears</title></head><body><main><p>Pears ripen off the "
    "tree, in a cool room.</p></main></body></html>",
    "deep.html": "<html><body><p>Too deep for depth 1.</p></body></html>",
    "private/x.html": "<html><body><p>robots.txt forbids this.</p></body></html>",
    "photo.png": "\x89PNG not text",
    "robots.txt": "User-agent: *\nDisallow: /private/\n",
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    for name, text in SITE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
async def test_crawl_is_polite_and_feeds_the_private_index(site: str, store: PgVectorStore) -> None:
    collection = f"web-{uuid.uuid4().hex[:6]}"
    ingestor = Ingestor(store, EMBEDDER, collection)
    with pytest.raises(InputError) as caught:  # loopback needs an explicit opt-in
        await Crawler(ingestor).crawl(f"{site}/index.html")
    assert caught.value.code == "url_not_allowed"

    options = CrawlOptions(depth=1, delay=0.0, allow_private=True)
    report = await Crawler(ingestor, options).crawl(f"{site}/index.html")
    crawled = sorted(r.source.rsplit("/", 1)[1] for r in report.results)
    assert crawled == ["apples.html", "index.html", "pears.html"]
    assert report.skipped[f"{site}/private/x.html"] == "robots.txt"
    assert report.skipped[f"{site}/photo.png"].startswith("not text")
    assert report.skipped["http://other.invalid/"] == "other site"
    assert f"{site}/deep.html" not in report.skipped  # simply beyond the depth

    found = await IndexSearch(store, EMBEDDER, collection).search("when are apples ripe?", k=2)
    assert found[0].url == f"{site}/apples.html" and found[0].title == "Apples"
    assert found[0].provider == "index"
    [vector] = await EMBEDDER.embed(["pears"])
    options_web = SearchOptions(k=1, filters={"type": "web"})
    [hit] = await store.search(collection, "pears", vector, options_web)
    assert hit.metadata["type"] == "web"
    assert await IndexSearch(store, EMBEDDER, "never-crawled").search("x") == []


async def test_searxng_json_api() -> None:
    import http.server
    import json as jsonlib
    from urllib.parse import parse_qs, urlsplit

    from tools.web_search.searxng import SearxngSearch

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if query.get("format") != ["json"]:
                self.send_response(403)
                self.end_headers()
                return
            q = query["q"][0]
            body = {
                "results": [
                    {"title": "One", "url": "https://one.example/", "content": "1", "score": 2.0},
                    {"title": "Dup", "url": "https://one.example", "content": "d", "score": 1.0},
                    {"title": "Two", "url": "https://two.example/", "content": q, "score": 1.5},
                ]
            }
            data = jsonlib.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = await SearxngSearch(f"http://127.0.0.1:{server.server_address[1]}").search("hello")
    finally:
        server.shutdown()
        server.server_close()
    assert [(r.title, r.provider) for r in found] == [("One", "searxng"), ("Two", "searxng")]
    assert found[1].snippet == "hello"
