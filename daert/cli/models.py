"""`daert models`: the aliases, their deployments and health; `daert models call` to try one."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import ServiceError
from daert.cli.context import JsonFlag, settings_of, with_runtime
from daert.cli.params import within
from daert.services.plan import build_supervisor, endpoints

if TYPE_CHECKING:
    from agents.gateway.usage import UsageSummary
    from daert.runtime import Runtime

models_app = typer.Typer(
    help="Model aliases (chat, planner, summarizer, judge) and their deployments.",
    invoke_without_command=True,
    no_args_is_help=False,
)
out = Console()
err = Console(stderr=True)
MAX_HOURS = 100 * 366 * 24


def _health(api_base: str | None, kind: str) -> str:
    import httpx  # noqa: PLC0415

    if kind == "hosted":
        return "key set"  # a hosted check would cost a call; `models call` makes one
    if api_base is None:
        return "[red]not running[/]"
    try:
        response = httpx.get(f"{api_base.rstrip('/')}/models", timeout=3)
    except httpx.HTTPError as error:
        return f"[red]down[/] ({escape(type(error).__name__)})"
    return "[green]ok[/]" if response.status_code == 200 else f"[red]HTTP {response.status_code}[/]"


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List every alias with its deployments in fallback order, their health and latency."""

    from daert.adapters import build_gateway  # noqa: PLC0415

    if ctx.invoked_subcommand is not None:
        return
    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    gateway = build_gateway(settings, urls)

    async def summaries() -> dict[str, tuple[int, float | None]]:
        if gateway.usage is None:
            return {}
        try:
            rows = await gateway.usage.summary()
        except Exception:  # noqa: BLE001 - no usage table yet, or PostgreSQL down: no latency
            return {}
        return {r.alias: (r.calls, r.last_latency_ms) for r in rows}

    usage = asyncio.run(summaries())
    table = Table(title="model aliases (deployments in fallback order)", title_justify="left")
    for column in ("alias", "#", "deployment", "kind", "health", "calls", "last latency"):
        table.add_column(column, overflow="fold")
    for alias, deployments in gateway.deployments.items():
        calls, last = usage.get(alias, (0, None))
        for d in deployments:
            health = (
                _health(d.params.get("api_base"), d.kind)
                if d.available
                else (f"[red]unavailable[/]: {escape(d.unavailable_reason)}")
            )
            table.add_row(
                alias if d.index == 0 else "",
                str(d.index),
                escape(d.label),
                d.kind,
                health,
                str(calls) if d.index == 0 else "",
                f"{last:.0f} ms" if last is not None and d.index == 0 else "",
            )
    table.add_row("embed", "0", escape(settings.embedder), "embedder", "", "", "")
    out.print(table)


@models_app.command("call")
def call(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="chat, planner, summarizer, judge, ...")],
    prompt: Annotated[str, typer.Argument(help="The user message; '-' reads standard input.")],
    max_tokens: Annotated[
        int, typer.Option(help="Longest answer, in tokens.", callback=within(1, 1_000_000))
    ] = 256,
    system: Annotated[str | None, typer.Option(help="A system message to put first.")] = None,
) -> None:
    """Send one prompt through the gateway and stream the answer (a raw model call)."""

    text = sys.stdin.read() if prompt == "-" else prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]

    async def run(runtime: Runtime) -> None:
        gateway = await runtime.gateway()
        async for piece in gateway.stream(alias, messages, max_tokens=max_tokens, user_id="cli"):
            out.print(piece, end="", markup=False, highlight=False, soft_wrap=True)
        out.print()

    with_runtime(ctx, run)


@models_app.command("usage")
def usage(
    ctx: typer.Context,
    hours: Annotated[
        float,
        typer.Option(
            help="Only calls of the last N hours (0: all; at most 100 years).",
            callback=within(0, MAX_HOURS),
        ),
    ] = 24,
    thread: Annotated[str | None, typer.Option(help="Only this thread id.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Tokens, cost and latency of model calls per alias, from PostgreSQL."""

    from agents.gateway.usage import PostgresUsageStore  # noqa: PLC0415
    from daert.reach import with_connect_timeout  # noqa: PLC0415

    settings = settings_of(ctx)
    urls = endpoints(settings, build_supervisor(settings))
    if urls.postgres is None:
        raise ServiceError(
            "PostgreSQL is not running, and usage lives there",
            hint="run `daert up`",
            code="usage_unavailable",
        )
    store = PostgresUsageStore(with_connect_timeout(urls.postgres))  # no gateway needed
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours) if hours > 0 else None

    async def run() -> list[UsageSummary]:
        await store.setup()
        return await store.summary(since=since, thread_id=thread, user_id=user)

    rows = asyncio.run(run())
    if as_json:
        out.print_json(data=[dataclasses.asdict(r) for r in rows])
        return
    table = Table(
        title="model usage" + (f", last {hours:g} h" if since else ""), title_justify="left"
    )
    for column in ("alias", "calls", "failed", "prompt tok", "completion tok", "cost $", "p50 ms"):
        table.add_column(column, justify="right" if column != "alias" else "left")
    for r in rows:
        p50 = f"{r.p50_latency_ms:.0f}" if r.p50_latency_ms is not None else ""
        table.add_row(r.alias, str(r.calls), str(r.failures), str(r.prompt_tokens),
                      str(r.completion_tokens), f"{r.cost_usd:.6f}", p50)  # fmt: skip
    out.print(table)
