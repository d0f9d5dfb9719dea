"""`daert crawl` fills the private web index; `daert web` searches the web (or that index)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import InputError
from daert.cli.context import JsonFlag, settings_of, with_runtime
from daert.cli.params import within

if TYPE_CHECKING:
    from daert.runtime import Runtime
    from knowledge.ingest.pipeline import SourceResult
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
    from tools.web_search.crawl import Crawler, CrawlOptions  # noqa: PLC0415

    settings = settings_of(ctx)
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

    async def run(runtime: Runtime) -> None:
        ingestor = await runtime.ingestor(settings.web_collection)
        report = await Crawler(ingestor, options).crawl(url, on_page=show)
        stored = sum(1 for r in report.results if r.outcome in {"added", "updated"})
        out.print(
            f"{len(report.results)} pages fetched, {stored} stored in "
            f"{settings.web_collection!r}, {len(report.skipped)} links skipped"
        )

    with_runtime(ctx, run)


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

    async def run(runtime: Runtime) -> tuple[str, list[WebResult]]:
        search = await runtime.web_search()
        return search.name, await search.search(query, k=k)

    name, results = with_runtime(ctx, run)
    if as_json:
        out.print_json(data=[dataclasses.asdict(r) for r in results])
        return
    if not results:
        out.print(f"no results from {name}")
    for rank, r in enumerate(results, start=1):
        out.print(
            f"[bold]{rank}.[/] {escape(r.title)}  [cyan]{escape(r.url)}[/]  [dim]{r.provider}[/]"
        )
        out.print("   " + escape(r.snippet[:300].replace("\n", " ")))
