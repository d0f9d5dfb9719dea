"""`daert threads`: conversation threads: list, show, delete, prune old checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daert.cli.context import with_runtime
from daert.cli.options import User

if TYPE_CHECKING:
    from typing import Any

    from daert.runtime import Runtime
    from memory.checkpoints import RetentionReport, ThreadInfo

out = Console()
threads_app = typer.Typer(help="Conversation threads: list, show, delete, prune old checkpoints.")


async def _history(runtime: Runtime, thread: str, user: str) -> list[dict[str, Any]]:
    from graphs.assistant.history import read_history  # noqa: PLC0415

    return await read_history(await runtime.checkpointer(), await runtime.threads(), thread, user)


@threads_app.command("list")
def threads_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
) -> None:
    """Threads, most recently used first."""

    async def run(runtime: Runtime) -> list[ThreadInfo]:
        return await (await runtime.threads()).list(user)

    table = Table(title_justify="left")
    for column in ("thread", "user", "turns", "updated", "title"):
        table.add_column(column)
    for info in with_runtime(ctx, run):
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
    history = with_runtime(ctx, lambda runtime: _history(runtime, thread, user))
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

    async def run(runtime: Runtime) -> None:
        await _history(runtime, thread, user)  # unknown or foreign: clear error
        await (await runtime.retention()).delete_thread(thread)

    with_runtime(ctx, run)
    out.print(f"deleted {thread}")


@threads_app.command("prune")
def threads_prune(ctx: typer.Context) -> None:
    """Apply the retention policy now; run it periodically (from cron, say).

    Threads idle DAERT_THREAD_KEEP_DAYS are deleted; threads idle DAERT_THREAD_COMPACT_AFTER
    seconds keep only their latest checkpoint.
    """

    async def run(runtime: Runtime) -> RetentionReport:
        return await (await runtime.retention()).run()

    report = with_runtime(ctx, run)
    out.print(f"deleted {len(report.deleted)} threads, compacted {len(report.compacted)}")
