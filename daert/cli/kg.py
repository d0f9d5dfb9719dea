"""`daert kg`: build the knowledge graph from ingested chunks and query it (read-only)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import DaertError
from daert.cli.context import settings_of, with_runtime
from daert.cli.params import positive_seconds, within

if TYPE_CHECKING:
    from daert.runtime import Runtime
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

    from knowledge.graph.extract import ExtractionResult, Extractor  # noqa: PLC0415

    name = collection or settings_of(ctx).collection

    async def run(runtime: Runtime) -> ExtractionResult:
        store, graph = await runtime.vector_store(), await runtime.graph_store()
        gateway = await runtime.gateway()
        extractor = Extractor(gateway, graph, alias=alias, guidance_runner=runtime.guidance())
        result, after, failed = ExtractionResult(), 0, 0
        total = (await store.stats(name)).get("chunks", 0)
        total = min(total, limit) if limit else total
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
        return result

    result = with_runtime(ctx, run)
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

    from knowledge.graph.nl2cypher import ask as ask_graph  # noqa: PLC0415

    async def run(runtime: Runtime) -> None:
        # The graph is set up first: an empty graph then answers counts with 0, not nothing.
        graph = await runtime.graph_store()
        answer = await ask_graph(
            await runtime.gateway(), graph, question, alias=alias, limit=limit,
            guidance_runner=runtime.guidance(),
        )  # fmt: skip
        err.print(f"[dim]{escape(answer.cypher)}[/]")
        out.print_json(data=answer.rows)

    with_runtime(ctx, run)


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

    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"--params is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter('--params must be a JSON object, e.g. {"name": "Ada"}')

    async def run(runtime: Runtime) -> None:
        graph = await runtime.graph_store()
        out.print_json(data=await graph.read(query, parsed, limit=limit, timeout=timeout))

    with_runtime(ctx, run)
