"""`daert kg`: build the knowledge graph from ingested chunks and query it (read-only)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import DaertError
from daert.cli.context import settings_of
from daert.cli.params import positive_seconds, within
from daert.services.plan import build_supervisor, endpoints

if TYPE_CHECKING:
    from knowledge.graph.extract import ExtractionResult

kg_app = typer.Typer(help="The knowledge graph: extract entities and relations, query in Cypher.")
out = Console()
err = Console(stderr=True)


@kg_app.command()
def extract(
    ctx: typer.Context,
    collection: Annotated[str | None, typer.Option("--collection", "-C")] = None,
    limit: Annotated[
        int, typer.Option(help="Chunks to read at most (0: all).", callback=within(0, 10**9))
    ] = 0,
    alias: Annotated[str, typer.Option(help="Model alias that extracts.")] = "planner",
) -> None:
    """Read the collection's chunks with a model and merge what it finds into the graph."""

    from daert.adapters import build_gateway, build_graph_store, build_guidance, build_vector_store  # noqa: PLC0415
    from knowledge.graph.extract import ExtractionResult, Extractor  # noqa: PLC0415

    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    store = build_vector_store(urls)
    graph = build_graph_store(settings, urls)
    gateway = build_gateway(settings, urls)
    name = collection or settings.collection

    async def run() -> ExtractionResult:
        await store.setup()
        await graph.setup()
        if gateway.usage is not None:
            await gateway.usage.setup()
        extractor = Extractor(gateway, graph, alias=alias, guidance_runner=build_guidance(settings))
        result, after, failed = ExtractionResult(), 0, 0
        total = (await store.stats(name)).get("chunks", 0)
        total = min(total, limit) if limit else total
        try:
            with Progress(
                TextColumn("[bold]extract"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=err,
            ) as bar:  # fmt: skip
                task = bar.add_task("", total=total)
                while result.chunks + failed < total:
                    batch = await store.chunks_after(name, after, 20)
                    if not batch:
                        break
                    for chunk_id, source, content in batch[: total - result.chunks - failed]:
                        after = chunk_id
                        try:
                            await extractor.extract(f"{name}:{chunk_id}", source, content, result)
                        except DaertError as error:
                            failed += 1
                            err.print(f"[yellow]chunk {chunk_id}[/]: {escape(error.message)}")
                        bar.update(task, advance=1)
        finally:
            await gateway.aclose()
            await graph.aclose()
            await store.aclose()
        return result

    result = asyncio.run(run())
    out.print(
        f"{result.chunks} chunks read: {result.entities} entity mentions, "
        f"{result.relations} relations ({result.dropped_relations} dropped: unknown endpoints)"
    )


@kg_app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A question about the graph.")],
    limit: Annotated[int, typer.Option(help="Rows at most.", callback=within(1, 10_000))] = 50,
    alias: Annotated[str, typer.Option(help="Model alias that writes the Cypher.")] = "planner",
) -> None:
    """Answer a question with a read-only Cypher query written by a model (shown first)."""

    from daert.adapters import build_gateway, build_graph_store, build_guidance  # noqa: PLC0415
    from knowledge.graph.nl2cypher import ask as ask_graph  # noqa: PLC0415

    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    graph = build_graph_store(settings, urls)
    gateway = build_gateway(settings, urls)

    async def run() -> None:
        try:
            await graph.setup()  # an empty graph then answers counts with 0, not nothing
            answer = await ask_graph(
                gateway, graph, question, alias=alias, limit=limit,
                guidance_runner=build_guidance(settings),
            )  # fmt: skip
        finally:
            await gateway.aclose()
            await graph.aclose()
        err.print(f"[dim]{escape(answer.cypher)}[/]")
        out.print_json(data=answer.rows)

    asyncio.run(run())


@kg_app.command()
def cypher(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help="A read-only Cypher query, e.g. 'MATCH (n) RETURN n LIMIT 5'.")
    ],
    params: Annotated[str, typer.Option(help="Query parameters as a JSON object.")] = "{}",
    limit: Annotated[int, typer.Option(help="Rows at most.", callback=within(1, 100_000))] = 100,
    timeout: Annotated[
        float,
        typer.Option(help="Seconds before the query is cancelled.", callback=positive_seconds()),
    ] = 10,
) -> None:
    """Run a read-only Cypher query (writes are refused) and print the rows as JSON."""

    from daert.adapters import build_graph_store  # noqa: PLC0415

    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"--params is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter('--params must be a JSON object, e.g. {"name": "Ada"}')
    settings = settings_of(ctx)
    graph = build_graph_store(settings, endpoints(settings, build_supervisor(settings)))

    async def run() -> None:
        try:
            await graph.setup()
            rows = await graph.read(query, parsed, limit=limit, timeout=timeout)
        finally:
            await graph.aclose()
        out.print_json(data=rows)

    asyncio.run(run())
