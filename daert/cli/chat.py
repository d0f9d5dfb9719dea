"""`daert ask`, `daert chat`, `daert memory` and `daert threads`: the assistant in a terminal."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import DaertError, InputError, ServiceError
from daert.assembly import AssistantRuntime, open_assistant
from daert.cli.context import JsonFlag, settings_of
from daert.cli.failures import unexpected
from daert.cli.render import print_error

out = Console()
err = Console(stderr=True)

Thread = Annotated[
    str | None,
    typer.Option("--thread", "-t", help="Continue this thread (a new one is made if omitted)."),
]
User = Annotated[str, typer.Option("--user", "-u", help="Whose thread, memories and cache scope.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not answer from the cache.")]


def _show_event(event: dict[str, Any], *, quiet: bool) -> None:
    kind = event["type"]
    if kind == "token":
        out.print(event["text"], end="", highlight=False, soft_wrap=True, markup=False)
    elif quiet:
        return
    elif kind == "route":
        err.print(f"[dim]route: {', '.join(event['routes'])}[/]")
    elif kind == "tool_call" and event["status"] == "finished":
        mark = "[green]ok[/]" if event["ok"] else "[red]failed[/]"
        err.print(f"[dim]{event['tool']}: {mark} {escape(event['summary'])}[/]")
    elif kind == "tool_call":
        err.print(f"[dim]{event['tool']}: {escape(event['query'][:80])} ...[/]")
    elif kind == "cache_hit":
        err.print(f"[dim]cache hit (similarity {event['similarity']:.2f})[/]")
    elif kind == "memory_saved":
        err.print(f"[dim]remembered: {escape(event['text'])}[/]")


def _show_sources(reply: dict[str, Any]) -> None:
    citations = reply.get("citations") or []
    if citations:
        out.print("[bold]sources:[/]")
        for i, source in enumerate(citations, 1):
            label = source["title"] if source["title"] != source["ref"] else ""
            out.print(f"  [{i}] {escape(source['ref'])}  [dim]{escape(label[:80])}[/]",
                      highlight=False)  # fmt: skip
    images = [p for p in reply.get("parts") or [] if p.get("mime") == "image/png"]
    if images:
        folder = Path(tempfile.mkdtemp(prefix="daert-images-"))
        for n, part in enumerate(images, 1):
            path = folder / f"image-{n}.png"
            path.write_bytes(base64.b64decode(part["data"]))
            out.print(f"  image: {path}")


async def _turn(
    runtime: AssistantRuntime, question: str, *, thread: str | None, user: str, cache: bool,
    quiet: bool = False,
) -> dict[str, Any]:  # fmt: skip
    reply: dict[str, Any] = {}
    async for event in runtime.assistant.stream(
        question, thread_id=thread, user_id=user, cache=cache
    ):
        if event["type"] == "done":
            reply = event["reply"]
        else:
            _show_event(event, quiet=quiet)
    out.print()
    return reply


def ask(  # noqa: PLR0917 - a CLI command: typer passes options positionally
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question ('-' reads standard input).")],
    thread: Thread = None,
    user: User = "local",
    no_cache: NoCache = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reply as JSON (no streaming).")
    ] = False,
) -> None:
    """Ask the assistant one question; the answer streams, then its sources.

    It routes between your documents, the knowledge graph, web search and the code sandbox,
    and says "I don't know" when nothing relevant is found. Pass --thread to continue a
    conversation (the thread id is printed on stderr).
    """
    settings = settings_of(ctx)
    if question == "-":
        question = typer.get_text_stream("stdin").read()

    async def run() -> dict[str, Any]:
        async with open_assistant(settings) as runtime:
            if as_json:
                done = await runtime.assistant.ask(
                    question, thread_id=thread, user_id=user, cache=not no_cache
                )
                return done.to_dict()
            return await _turn(runtime, question, thread=thread, user=user, cache=not no_cache)

    reply = asyncio.run(run())
    if as_json:
        out.print_json(json.dumps(reply, default=str))
        return
    _show_sources(reply)
    err.print(f"[dim]thread: {reply['thread_id']}[/]")


def chat(
    ctx: typer.Context,
    thread: Thread = None,
    user: User = "local",
    no_cache: NoCache = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide tool steps.")] = False,
) -> None:
    """Talk with the assistant interactively: answers stream, with the tools used and sources.

    Type /new for a new thread, /thread to show its id, /exit (or Ctrl-D) to leave.
    """
    settings = settings_of(ctx)

    async def run() -> None:
        current = thread
        async with open_assistant(settings) as runtime:
            err.print("[dim]daert chat — /new, /thread, /exit[/]")
            while True:
                try:
                    line = await asyncio.to_thread(input, "you> ")
                except (EOFError, KeyboardInterrupt):
                    out.print()
                    return
                except UnicodeDecodeError:
                    err.print("[red]that line is not valid UTF-8[/]: type it again")
                    continue
                text = line.strip()
                if text in ("/exit", "/quit"):
                    return
                if text == "/new":
                    current = None
                    err.print("[dim]new thread[/]")
                    continue
                if text == "/thread":
                    err.print(f"[dim]thread: {current or '(none yet)'}[/]")
                    continue
                if not text:
                    continue
                try:
                    reply = await _turn(runtime, text, thread=current, user=user,
                                        cache=not no_cache, quiet=quiet)  # fmt: skip
                    current = reply["thread_id"]
                    _show_sources(reply)
                except DaertError as error:
                    print_error(err, error)
                except Exception as error:  # noqa: BLE001 - one failed turn must not end the chat
                    print_error(err, unexpected(error))
                    err.print("[dim]the conversation goes on; /exit leaves[/]")

    asyncio.run(run())


memory_app = typer.Typer(help="What the assistant remembers about a user: list, add, edit, delete.")


def _with_runtime(ctx: typer.Context, action: Any) -> Any:
    """Open the assistant's runtime, run `action(runtime)` in it, close it."""
    settings = settings_of(ctx)

    async def run() -> Any:
        async with open_assistant(settings) as runtime:
            return await action(runtime)

    return asyncio.run(run())


def _with_memory(ctx: typer.Context, action: Any) -> Any:
    async def run(runtime: AssistantRuntime) -> Any:
        if runtime.memory is None:
            raise InputError(
                "long-term memory is switched off",
                hint="set DAERT_MEMORY_ENABLED=true",
                code="memory_disabled",
            )
        return await action(runtime.memory)

    return _with_runtime(ctx, run)


@memory_app.command("list")
def memory_list(ctx: typer.Context, user: User = "local", as_json: JsonFlag = False) -> None:
    """The facts remembered about a user, oldest first."""
    items = _with_memory(ctx, lambda m: m.list(user))
    if as_json:
        rows = [{"id": i.id, "text": i.text, "updated_at": i.updated_at.isoformat()} for i in items]
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"memories of {user}", title_justify="left")
    table.add_column("id")
    table.add_column("fact")
    for item in items:
        table.add_row(item.id, escape(item.text))
    out.print(table)


@memory_app.command("add")
def memory_add(
    ctx: typer.Context, text: Annotated[str, typer.Argument(help="The fact.")], user: User = "local"
) -> None:
    """Remember a fact about a user."""
    item = _with_memory(ctx, lambda m: m.remember(user, text))
    out.print(f"remembered {item.id}: {escape(item.text)}")


@memory_app.command("edit")
def memory_edit(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="Id from `daert memory list`.")],
    text: Annotated[str, typer.Argument(help="The new text.")],
    user: User = "local",
) -> None:
    """Change a remembered fact."""
    item = _with_memory(ctx, lambda m: m.update(user, memory_id, text))
    out.print(f"updated {item.id}: {escape(item.text)}")


@memory_app.command("delete")
def memory_delete(
    ctx: typer.Context,
    memory_id: Annotated[str | None, typer.Argument(help="Id, or omit with --all.")] = None,
    user: User = "local",
    everything: Annotated[bool, typer.Option("--all", help="Forget every fact.")] = False,
) -> None:
    """Forget one fact, or all of a user's facts with --all."""
    if everything:
        count = _with_memory(ctx, lambda m: m.forget_all(user))
        out.print(f"forgot {count} facts")
        return
    if memory_id is None:
        raise InputError(
            "name a memory id, or pass --all",
            hint="`daert memory list` shows the ids",
            code="usage_error",
        )
    _with_memory(ctx, lambda m: m.forget(user, memory_id))
    out.print(f"forgot {memory_id}")


threads_app = typer.Typer(help="Conversation threads: list, show, delete, prune old checkpoints.")


@threads_app.command("list")
def threads_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
) -> None:
    """Threads, most recently used first."""

    async def run(runtime: AssistantRuntime) -> Any:
        assert runtime.assistant.registry is not None  # noqa: S101 - always built
        return await runtime.assistant.registry.list(user)

    table = Table(title_justify="left")
    for column in ("thread", "user", "turns", "updated", "title"):
        table.add_column(column)
    for info in _with_runtime(ctx, run):
        table.add_row(info.thread_id, info.user_id, str(info.turns),
                      f"{info.updated_at:%Y-%m-%d %H:%M}", escape(info.title[:60]))  # fmt: skip
    out.print(table)


@threads_app.command("show")
def threads_show(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    user: User = "local",
) -> None:
    """A thread's messages with the sources of each answer."""
    history = _with_runtime(ctx, lambda rt: rt.assistant.history(thread, user))
    for message in history:
        out.print(f"[bold]{message['role']}:[/] {escape(message['content'])}")
        for i, source in enumerate(message["citations"], 1):
            out.print(f"  [dim][{i}] {escape(source['ref'])}[/]")


@threads_app.command("delete")
def threads_delete(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    user: User = "local",
) -> None:
    """Delete a thread and all its checkpoints."""

    async def run(runtime: AssistantRuntime) -> None:
        await runtime.assistant.history(thread, user)  # unknown or foreign: clear error
        await runtime.retention.delete_thread(thread)

    _with_runtime(ctx, run)
    out.print(f"deleted {thread}")


@threads_app.command("prune")
def threads_prune(ctx: typer.Context) -> None:
    """Apply the retention policy now; run it periodically (from cron, say).

    Threads idle DAERT_THREAD_KEEP_DAYS are deleted; threads idle DAERT_THREAD_COMPACT_AFTER
    seconds keep only their latest checkpoint.
    """
    report = _with_runtime(ctx, lambda rt: rt.retention.run())
    out.print(f"deleted {len(report.deleted)} threads, compacted {len(report.compacted)}")


cache_app = typer.Typer(help="The semantic cache of answers: hit/miss statistics, clearing.")


def _with_cache(ctx: typer.Context, action: Any) -> Any:
    from daert.runtime import UP_HINT, build_supervisor, endpoints  # noqa: PLC0415
    from memory.semantic_cache.redis import RedisSemanticCache  # noqa: PLC0415

    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    if urls.redis is None:
        raise ServiceError(
            "Redis is not running, and the cache lives there", hint=UP_HINT, code="redis_down"
        )
    redis_url = urls.redis

    async def run() -> Any:
        cache = RedisSemanticCache(redis_url)
        try:
            return await action(cache)
        finally:
            await cache.aclose()

    return asyncio.run(run())


@cache_app.command("stats")
def cache_stats(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Hits, misses, hit rate and stored entries."""
    stats = _with_cache(ctx, lambda c: c.stats())
    looked = stats.hits + stats.misses
    rate = stats.hits / looked if looked else 0.0
    if as_json:
        out.print_json(json.dumps({"hits": stats.hits, "misses": stats.misses,
                                   "hit_rate": rate, "entries": stats.entries}))  # fmt: skip
        return
    out.print(f"hits {stats.hits}  misses {stats.misses}  hit rate {rate:.0%}  "
              f"entries {stats.entries}")  # fmt: skip


@cache_app.command("clear")
def cache_clear(ctx: typer.Context) -> None:
    """Forget every cached answer and the statistics."""
    _with_cache(ctx, lambda c: c.clear())
    out.print("cache cleared")
