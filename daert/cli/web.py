"""`daert crawl` fills the private web index; `daert web` searches the web (or that index)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import InputError
from daert.cli.context import JsonFlag, settings_of
from daert.cli.params import within
from daert.runtime import (
    build_embedder,
    build_ingestor,
    build_supervisor,
    build_vector_store,
    build_web_search,
    endpoints,
)
from knowledge.ingest.pipeline import SourceResult
from knowledge.vector.pgvector import PgVectorStore
from tools.web_search.crawl import Crawler, CrawlOptions
from tools.web_search.ports import WebResult

out = Console()
err = Console(stderr=True)


def crawl(  # noqa: PLR0917 - a CLI command: one parameter per option
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to start (http or https).")],
    depth: Annotated[
        int,
        typer.Option(help="Links to follow away from the start page.", callback=within(0, 10)),
    ] = 1,
    same_site: Annotated[
        bool, typer.Option("--same-site/--any-site", help="Stay on the start page's host.")
    ] = True,
    max_pages: Annotated[
        int, typer.Option(help="Pages to store at most.", callback=within(1, 100_000))
    ] = 50,
    delay: Annotated[
        float | None,
        typer.Option(
            help="Seconds between requests to a host \\[env: DAERT_CRAWL_DELAY].",
            callback=within(0, 3600),
        ),
    ] = None,
) -> None:
    """Fetch pages politely (robots.txt, a rate limit, size limits) into the private web index."""
    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    store = build_vector_store(urls)
    ingestor = build_ingestor(
        settings, store, build_embedder(settings), settings.web_collection, redis_url=urls.redis
    )
    options = CrawlOptions(
        depth=depth,
        same_site=same_site,
        max_pages=max_pages,
        delay=settings.crawl_delay if delay is None else delay,
        max_bytes=settings.ingest_max_bytes,
        allow_private=settings.crawl_allow_private,
    )

    def show(result: SourceResult) -> None:
        mark = {"failed": "[red]failed[/]", "unchanged": "[dim]unchanged[/]"}.get(
            result.outcome, f"[green]{result.outcome}[/]"
        )
        err.print(
            f"{mark} {escape(result.source)}"
            + (f" ({escape(result.error)})" if result.error else "")
        )

    async def run() -> None:
        await store.setup()
        try:
            report = await Crawler(ingestor, options).crawl(url, on_page=show)
        finally:
            await store.aclose()
        stored = sum(1 for r in report.results if r.outcome in {"added", "updated"})
        out.print(
            f"{len(report.results)} pages fetched, {stored} stored in "
            f"{settings.web_collection!r}, {len(report.skipped)} links skipped"
        )

    asyncio.run(run())


def web(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[
        int, typer.Option("--k", "-k", help="How many results (1-50).", callback=within(1, 50))
    ] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Search the web with Tavily (TAVILY_API_KEY), or else the private index of crawled pages."""
    if not query.strip():
        raise InputError("the search query is empty", hint="say what to look for",
                         code="web_query_empty")  # fmt: skip
    settings = settings_of(ctx)
    search = build_web_search(settings, endpoints(settings, build_supervisor(settings)),
                              build_embedder(settings))  # fmt: skip

    async def run() -> list[WebResult]:
        store = getattr(search, "store", None)
        if isinstance(store, PgVectorStore):
            await store.setup()
        try:
            return await search.search(query, k=k)
        finally:
            if isinstance(store, PgVectorStore):
                await store.aclose()

    results = asyncio.run(run())
    if as_json:
        out.print_json(data=[dataclasses.asdict(r) for r in results])
        return
    if not results:
        out.print(f"no results from {search.name}")
    for rank, r in enumerate(results, start=1):
        out.print(
            f"[bold]{rank}.[/] {escape(r.title)}  [cyan]{escape(r.url)}[/]  [dim]{r.provider}[/]"
        )
        out.print("   " + escape(r.snippet[:300].replace("\n", " ")))
