"""`daert ask` and `daert chat`: the assistant in a terminal, answers streamed as they come."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import DaertError
from daert.cli.context import settings_of
from daert.cli.failures import unexpected
from daert.cli.options import Local, NoCache, Thread, User
from daert.cli.render import print_error
from graphs.assistant.events import (
    CacheHit,
    MemorySaved,
    Reply,
    RouteChosen,
    RunDone,
    RunEvent,
    Token,
    ToolFinished,
    ToolStarted,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from daert.runtime import Runtime
    from daert.settings import Settings


class Turns(Protocol):
    """What answers a turn: the assistant in this process, or a running server."""

    def stream(
        self, question: str, *, thread_id: str | None = None, user_id: str = "local",
        cache: bool = True,
    ) -> AsyncIterator[RunEvent]: ...  # fmt: skip


async def _turns(settings: Settings, runtime: Runtime, local: bool) -> tuple[Turns, str | None]:
    """The running server of this data dir when there is one (no model to load here), else
    the assistant in this process; and the server's URL, if that is what answers."""
    from daert.client import ServerAssistant, find_server  # noqa: PLC0415

    url = None if local else await asyncio.to_thread(find_server, settings.data_dir)
    if url is None:
        return await runtime.assistant(), None
    key = settings.client_key.get_secret_value() if settings.client_key else None
    remote = ServerAssistant(url, key=key)
    runtime.on_close(remote.aclose)
    return remote, url


out = Console()
err = Console(stderr=True)


def _show_event(event: RunEvent, *, quiet: bool) -> None:
    """One event on the terminal: the answer on stdout, the steps on stderr (dim)."""
    if isinstance(event, Token):
        out.print(event.text, end="", highlight=False, soft_wrap=True, markup=False)
        return
    if quiet:
        return
    match event:
        case RouteChosen(routes=routes):
            err.print(f"[dim]route: {', '.join(routes)}[/]")
        case ToolStarted(tool=tool, query=query):
            err.print(f"[dim]{tool}: {escape(query[:80])} ...[/]")
        case ToolFinished(tool=tool, ok=ok, summary=summary):
            mark = "[green]ok[/]" if ok else "[red]failed[/]"
            err.print(f"[dim]{tool}: {mark} {escape(summary)}[/]")
        case CacheHit(similarity=similarity):
            err.print(f"[dim]cache hit (similarity {similarity:.2f})[/]")
        case MemorySaved(text=text):
            err.print(f"[dim]remembered: {escape(text)}[/]")
        case _:
            pass


async def _show_sources(reply: Reply, runtime: Runtime) -> None:
    """The cited sources, and the images the code tool made (written to a temp folder)."""
    if reply.citations:
        out.print("[bold]sources:[/]")
        for i, source in enumerate(reply.citations, 1):
            label = source["title"] if source["title"] != source["ref"] else ""
            out.print(f"  [{i}] {escape(source['ref'])}  [dim]{escape(label[:80])}[/]",
                      highlight=False)  # fmt: skip
    images = [o for o in reply.outputs if o.mime == "image/png"]
    if images:
        blobs = await runtime.blobs()
        folder = Path(tempfile.mkdtemp(prefix="daert-images-"))
        for n, image in enumerate(images, 1):
            path = folder / f"image-{n}.png"
            path.write_bytes((await blobs.get(image.ref)).data)
            out.print(f"  image: {path}")


async def _turn(
    assistant: Turns, question: str, *, thread: str | None, user: str, cache: bool,
    quiet: bool = False,
) -> Reply:  # fmt: skip
    async for event in assistant.stream(question, thread_id=thread, user_id=user, cache=cache):
        if isinstance(event, RunDone):
            out.print()
            return event.reply
        _show_event(event, quiet=quiet)
    raise AssertionError("a turn always ends with `done`")  # pragma: no cover


async def _collect(
    assistant: Turns, question: str, thread: str | None, user: str, *, cache: bool
) -> Reply:
    async for event in assistant.stream(question, thread_id=thread, user_id=user, cache=cache):
        if isinstance(event, RunDone):
            return event.reply
    raise AssertionError("a turn always ends with `done`")  # pragma: no cover


def ask(  # noqa: PLR0917 - a CLI command: typer passes options positionally
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question ('-' reads standard input).")],
    thread: Thread = None,
    user: User = "local",
    no_cache: NoCache = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reply as JSON (no streaming).")
    ] = False,
    local: Local = False,
) -> None:
    """Ask the assistant one question; the answer streams, then its sources.

    It routes between your documents, the knowledge graph, web search and the code sandbox,
    and says "I don't know" when nothing relevant is found. Pass --thread to continue a
    conversation (the thread id is printed on stderr). When `daert serve` runs for this
    data dir, the question goes to it (its model is loaded already); --local runs it here.
    """
    from daert.runtime import Runtime  # noqa: PLC0415

    settings = settings_of(ctx)
    if question == "-":
        question = typer.get_text_stream("stdin").read()

    async def run() -> None:
        async with Runtime(settings) as runtime:
            assistant, _ = await _turns(settings, runtime, local)
            if as_json:
                reply = await _collect(assistant, question, thread, user, cache=not no_cache)
                data = reply.to_dict()
                blobs = await runtime.blobs() if reply.outputs else None
                for output in data["outputs"]:  # inline, for scripts that read the JSON
                    assert blobs is not None  # noqa: S101 - fetched when there are outputs
                    output["data"] = (await blobs.get(output["ref"])).base64
                out.print_json(json.dumps(data, default=str))
                return
            reply = await _turn(assistant, question, thread=thread, user=user,
                                cache=not no_cache)  # fmt: skip
            await _show_sources(reply, runtime)
            err.print(f"[dim]thread: {reply.thread_id}[/]")

    asyncio.run(run())


def chat(  # noqa: PLR0917 - a CLI command: typer passes options positionally
    ctx: typer.Context,
    thread: Thread = None,
    user: User = "local",
    no_cache: NoCache = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Hide tool steps.")] = False,
    local: Local = False,
) -> None:
    """Talk with the assistant interactively: answers stream, with the tools used and sources.

    Type /new for a new thread, /thread to show its id, /exit (or Ctrl-D) to leave. When
    `daert serve` runs for this data dir, turns go to it; --local runs them here.
    """
    from daert.runtime import Runtime  # noqa: PLC0415

    settings = settings_of(ctx)

    async def run() -> None:
        current = thread
        async with Runtime(settings) as runtime:
            assistant, url = await _turns(settings, runtime, local)
            where = f" (answered by {url})" if url else ""
            err.print(f"[dim]daert chat — /new, /thread, /exit{where}[/]")
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
                    reply = await _turn(assistant, text, thread=current, user=user,
                                        cache=not no_cache, quiet=quiet)  # fmt: skip
                    current = reply.thread_id
                    await _show_sources(reply, runtime)
                except DaertError as error:
                    print_error(err, error)
                except Exception as error:  # noqa: BLE001 - one failed turn must not end the chat
                    print_error(err, unexpected(error))
                    err.print("[dim]the conversation goes on; /exit leaves[/]")

    asyncio.run(run())
