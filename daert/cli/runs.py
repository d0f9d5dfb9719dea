"""`daert runs`: the durable runs of every surface: list, show, cancel."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daert.cli.context import JsonFlag, with_runtime

if TYPE_CHECKING:
    from bots.runs.records import Run
    from bots.runs.store import RunStore
    from daert.runtime import Runtime

out = Console()
runs_app = typer.Typer(
    help="Durable runs (what `daert serve` and `daert worker` execute): list, show, cancel.\n\n"
    "Examples:  daert runs list --status running  ·  daert runs show RUN_ID  ·  "
    "daert runs cancel RUN_ID"
)


async def _store(runtime: Runtime) -> RunStore:
    from bots.runs.store import RunStore  # noqa: PLC0415

    store = RunStore(await runtime.pool())
    await store.setup()
    return store


@runs_app.command("list")
def runs_list(  # noqa: PLR0917 - typer options
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Only this thread's.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="pending, running, success, error, timeout, interrupted, cancelled."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Runs, newest first."""

    async def run(runtime: Runtime) -> list[Run]:
        store = await _store(runtime)
        return await store.search(user_id=user, thread_id=thread, status=status, limit=limit)

    found = with_runtime(ctx, run)
    if as_json:
        out.print_json(json.dumps([r.to_api() for r in found]))
        return
    table = Table(title_justify="left")
    for column in ("run", "status", "thread", "user", "try", "used", "created"):
        table.add_column(column)
    for r in found:
        table.add_row(r.run_id, _status(r.status), r.thread_id, escape(r.user_id), str(r.attempt),
                      f"{r.elapsed:.1f}s", f"{r.created_at:%Y-%m-%d %H:%M:%S}")  # fmt: skip
    out.print(table)


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_json: JsonFlag = False,
) -> None:
    """One run: status, attempts, time used, error, input."""

    async def run(runtime: Runtime) -> Run:
        return await (await _store(runtime)).get(run_id)

    found = with_runtime(ctx, run)
    body = {**found.to_api(), "user_id": found.user_id, "elapsed": found.elapsed,
            "timeout": found.timeout}  # fmt: skip
    if as_json:
        out.print_json(json.dumps(body, default=str))
        return
    for key in ("run_id", "status", "thread_id", "assistant_id", "user_id", "attempt",
                "elapsed", "timeout", "created_at", "updated_at"):  # fmt: skip
        out.print(f"[bold]{key}:[/] {escape(str(body.get(key)))}")
    if found.error:
        out.print(f"[bold red]error:[/] {escape(json.dumps(found.error))}")
    out.print(f"[bold]input:[/] {escape(json.dumps(found.kwargs.get('input'))[:500])}")


@runs_app.command("cancel")
def runs_cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
) -> None:
    """Cancel a pending or running run (its worker stops it within seconds)."""

    async def run(runtime: Runtime) -> Run:
        from daert.server import open_runs  # noqa: PLC0415

        async with open_runs(runtime) as runs:
            return await runs.service.cancel(run_id, None)

    found = with_runtime(ctx, run)
    out.print(f"run {found.run_id}: {_status(found.status)}")


def _status(status: str) -> str:
    color = {"success": "green", "error": "red", "timeout": "red", "running": "cyan",
             "pending": "yellow"}.get(status, "dim")  # fmt: skip
    return f"[{color}]{status}[/]"
