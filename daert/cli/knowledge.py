"""`daert ingest` and `daert search`: the knowledge base from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import DaertError, InputError, ServiceError
from daert.cli.context import JsonFlag, settings_of, with_runtime
from daert.cli.params import positive_seconds, within
from daert.services.plan import UP_HINT, build_supervisor, endpoints
from knowledge.ingest import DEFAULT_GROUP, DEFAULT_STREAM

if TYPE_CHECKING:
    from daert.runtime import Runtime
    from knowledge.ingest.pipeline import Ingestor, SourceResult
    from knowledge.vector.ports import Hit

out = Console()
err = Console(stderr=True)

Collection = Annotated[
    str | None, typer.Option("--collection", "-C", help="Collection \\[env: DAERT_COLLECTION].")
]


def ingest(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(help="Files, directories or http(s) URLs.")],
    collection: Collection = None,
    remove: Annotated[bool, typer.Option("--remove", help="Delete these sources instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ingest files, directories and URLs: load, clean, chunk, embed, store.

    Markdown, text, HTML, PDF, CSV, JSON/JSONL and source code. Unchanged sources are skipped,
    changed ones replaced whole; a source that fails leaves nothing behind. Exits 1 when any
    source failed.
    """

    from knowledge.ingest.pipeline import SourceResult, expand  # noqa: PLC0415

    if any(not source.strip() for source in sources):
        raise InputError(
            "a source name is empty", hint="name files, directories or URLs", code="no_sources"
        )
    try:
        planned = list(expand(sources))
    except OSError as error:  # a name too long, a directory that cannot be listed
        raise InputError(
            f"cannot read {str(error.filename)[:200]!r}: {error.strerror or error}",
            hint="check the path and its permissions",
            code="source_unreadable",
        ) from None
    if not planned:
        raise InputError(
            "nothing to ingest", hint="name files, directories or URLs", code="no_sources"
        )

    async def run(runtime: Runtime) -> tuple[str, list[SourceResult]]:
        ingestor = await runtime.ingestor(collection)
        if remove:
            return ingestor.collection, [
                SourceResult(s, "updated" if await ingestor.remove(s) else "skipped")
                for s in planned
            ]
        with Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            disable=as_json,
        ) as bar:
            task = bar.add_task("", total=len(planned))

            def advance(result: SourceResult) -> None:
                bar.update(task, advance=1, description=escape(result.source[-60:]))

            report = await ingestor.ingest(planned, on_result=advance)
        return ingestor.collection, report.results

    name, results = with_runtime(ctx, run)
    if as_json:
        out.print_json(data=[dataclasses.asdict(r) for r in results])
    else:
        for r in results:
            if r.outcome == "failed":
                shown = r.source if r.source.isprintable() else repr(r.source)
                err.print(
                    f"[red]failed[/] {escape(shown)}: {escape(f'[{r.code}]')} "
                    f"{escape(r.error or '')}",
                    soft_wrap=True,
                )
        counts = {o: sum(1 for r in results if r.outcome == o) for o in
                  ("added", "updated", "unchanged", "failed", "skipped")}  # fmt: skip
        verb = "removed" if remove else "updated"
        out.print(
            f"collection {name}: {counts['added']} added, {counts['updated']} "
            f"{verb}, {counts['unchanged']} unchanged, {counts['skipped']} not found, "
            f"{counts['failed']} failed; {sum(r.chunks for r in results)} chunks written"
        )
    failed = sum(1 for r in results if r.outcome == "failed")
    if failed:
        raise DaertError(
            f"{failed} of {len(results)} sources failed",
            hint="each one's reason is above; fix those and run again (what was stored stays, "
            "unchanged sources are skipped)",
            code="ingest_failed",
        )


def search(  # noqa: PLR0917 - a CLI command: one parameter per option
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: Collection = None,
    k: Annotated[
        int, typer.Option("--k", "-k", help="How many results (1-1000).", callback=within(1, 1000))
    ] = 5,
    hybrid: Annotated[
        float,
        typer.Option(
            help="Weight of vector ranking vs full text (1 = vector only).", callback=within(0, 1)
        ),
    ] = 0.5,
    mmr: Annotated[
        float | None,
        typer.Option(
            help="Diversify with MMR, lambda in [0, 1] (1 = relevance).", callback=within(0, 1)
        ),
    ] = None,
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="Metadata key=value (repeatable).")
    ] = None,
    ef_search: Annotated[
        int | None,
        typer.Option(help="HNSW ef_search for this query (1-1000).", callback=within(1, 1000)),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search the knowledge base: ranked chunks with scores and sources."""

    from knowledge.vector.ports import SearchOptions  # noqa: PLC0415

    settings = settings_of(ctx)
    parsed = {}
    for item in filters or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(
                f"bad filter {item!r}", hint="use --filter key=value", code="bad_filter"
            )
        parsed[key] = value
    options = SearchOptions(k=k, filters=parsed, hybrid=hybrid, mmr=mmr, ef_search=ef_search)

    async def run(runtime: Runtime) -> list[Hit]:
        [vector] = await runtime.embedder().embed([query])
        store = await runtime.vector_store()
        return await store.search(collection or settings.collection, query, vector, options)

    hits = with_runtime(ctx, run)
    if as_json:
        out.print_json(data=[dataclasses.asdict(h) for h in hits])
        return
    if not hits:
        out.print("no results")
    for rank, hit in enumerate(hits, start=1):
        section = hit.metadata.get("section")
        out.print(
            f"[bold]{rank}.[/] score {hit.score:.4f}  [cyan]{escape(hit.source)}[/]"
            + (f" § {escape(str(section))}" if section else "")
        )
        text = hit.content
        out.print("   " + escape(text[:400].replace("\n", " ")) + ("…" if len(text) > 400 else ""))


def stream_ingest(
    ctx: typer.Context,
    stream: Annotated[str, typer.Option(help="Redis stream to consume.")] = DEFAULT_STREAM,
    group: Annotated[str, typer.Option(help="Consumer group.")] = DEFAULT_GROUP,
    consumer: Annotated[str | None, typer.Option(help="This worker's name.")] = None,
    claim_after: Annotated[
        float,
        typer.Option(
            help="Seconds before a dead worker's entries are taken over.",
            callback=positive_seconds(7 * 24 * 3600),
        ),
    ] = 60,
) -> None:
    """Ingest documents pushed to a Redis Stream, until Ctrl-C (at-least-once, with ack).

    Producers: XADD daert:ingest * source ID text CONTENT [title T] [collection C]
    [type article|code|records] [records JSON] [metadata JSON] [op upsert|delete].
    """

    from daert.adapters import build_embedder, build_ingestor, build_vector_store  # noqa: PLC0415
    from knowledge.ingest.stream import StreamIngestor  # noqa: PLC0415

    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    if urls.redis is None:
        raise ServiceError(
            "Redis is not running, and the ingest stream lives there",
            hint=UP_HINT,
            code="redis_down",
        )
    store = build_vector_store(urls)
    embedder = build_embedder(settings)
    ingestors: dict[str, Ingestor] = {}

    def ingestor_for(collection: str) -> Ingestor:
        name = collection or settings.collection
        if name not in ingestors:
            ingestors[name] = build_ingestor(settings, store, embedder, name, redis=urls.redis)
        return ingestors[name]

    worker = StreamIngestor(
        urls.redis, ingestor_for, stream=stream, group=group, consumer=consumer,
        claim_idle_ms=int(claim_after * 1000),
    )  # fmt: skip

    async def run() -> None:
        await store.setup()
        await worker.setup()
        err.print(f"consuming {stream} as {worker.consumer} in group {group}; Ctrl-C stops")
        try:
            while True:
                if await worker.poll(block_ms=2000):
                    s = worker.stats
                    err.print(
                        f"ingested {s.ingested}, deleted {s.deleted}, dead-lettered {s.dead}, "
                        f"retrying {s.retried}"
                    )
        finally:
            await worker.aclose()
            await store.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
