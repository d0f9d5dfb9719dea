"""`daert ask` and `daert chat`: the assistant in a terminal, answers streamed as they come."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import DaertError
from daert.cli.context import settings_of
from daert.cli.failures import unexpected
from daert.cli.options import NoCache, Thread, User
from daert.cli.render import print_error

if TYPE_CHECKING:
    from graphs.assistant.assistant import Assistant

out = Console()
err = Console(stderr=True)


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
    assistant: Assistant, question: str, *, thread: str | None, user: str, cache: bool,
    quiet: bool = False,
) -> dict[str, Any]:  # fmt: skip
    reply: dict[str, Any] = {}
    async for event in assistant.stream(question, thread_id=thread, user_id=user, cache=cache):
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
    from daert.runtime import Runtime  # noqa: PLC0415

    settings = settings_of(ctx)
    if question == "-":
        question = typer.get_text_stream("stdin").read()

    async def run() -> dict[str, Any]:
        async with Runtime(settings) as runtime:
            assistant = await runtime.assistant()
            if as_json:
                done = await assistant.ask(
                    question, thread_id=thread, user_id=user, cache=not no_cache
                )
                return done.to_dict()
            return await _turn(assistant, question, thread=thread, user=user, cache=not no_cache)

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
    from daert.runtime import Runtime  # noqa: PLC0415

    settings = settings_of(ctx)

    async def run() -> None:
        current = thread
        async with Runtime(settings) as runtime:
            assistant = await runtime.assistant()
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
                    reply = await _turn(assistant, text, thread=current, user=user,
                                        cache=not no_cache, quiet=quiet)  # fmt: skip
                    current = reply["thread_id"]
                    _show_sources(reply)
                except DaertError as error:
                    print_error(err, error)
                except Exception as error:  # noqa: BLE001 - one failed turn must not end the chat
                    print_error(err, unexpected(error))
                    err.print("[dim]the conversation goes on; /exit leaves[/]")

    asyncio.run(run())
