"""`daert memory`: what the assistant remembers about a user: list, add, edit, delete."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import InputError
from daert.cli.context import JsonFlag, with_runtime
from daert.cli.options import User

if TYPE_CHECKING:
    from daert.runtime import Runtime
    from memory.longterm import UserMemory

out = Console()


def _with_memory[T](ctx: typer.Context, action: Callable[[UserMemory], Awaitable[T]]) -> T:
    """Run `action` on the user memory: one PostgreSQL pool; the embedder loads only when a
    fact is written."""

    async def run(runtime: Runtime) -> T:
        return await action(await runtime.memory())

    return with_runtime(ctx, run)


memory_app = typer.Typer(help="What the assistant remembers about a user: list, add, edit, delete.")


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
