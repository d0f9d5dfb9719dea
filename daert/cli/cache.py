"""`daert cache`: the semantic cache of answers: hit/miss statistics, clearing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from daert.cli.context import JsonFlag, with_runtime

if TYPE_CHECKING:
    from daert.runtime import Runtime
    from memory.semantic_cache.ports import CacheStats
    from memory.semantic_cache.redis import RedisSemanticCache

out = Console()
cache_app = typer.Typer(help="The semantic cache of answers: hit/miss statistics, clearing.")


def _with_cache[T](ctx: typer.Context, action: Callable[[RedisSemanticCache], Awaitable[T]]) -> T:
    async def run(runtime: Runtime) -> T:
        return await action(await runtime.cache())

    return with_runtime(ctx, run)


@cache_app.command("stats")
def cache_stats(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Hits, misses, hit rate and stored entries."""
    stats: CacheStats = _with_cache(ctx, lambda c: c.stats())
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
