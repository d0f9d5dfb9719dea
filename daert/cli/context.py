"""The CLI's global options, shared by every command module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daert.settings import Settings, load_settings

if TYPE_CHECKING:
    from daert.runtime import Runtime


JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@dataclass
class Context:
    """Global options, and settings loaded once on first use (so --help needs no config)."""

    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    def settings(self, **more: Any) -> Settings:
        if self._settings is None or more:
            self._settings = load_settings(self.config, **{**self.overrides, **more})
        return self._settings


def context_of(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    if not isinstance(obj, Context):  # only when a command is invoked outside `app`
        raise RuntimeError("daert CLI context missing")
    return obj


def settings_of(ctx: typer.Context) -> Settings:
    return context_of(ctx).settings()


def with_runtime[T](ctx: typer.Context, action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run `action` with a runtime over this command's settings, then close what it opened.

    The runtime builds only what `action` asks for: listing threads opens one pool, no model.
    """
    import asyncio  # noqa: PLC0415

    from daert.runtime import Runtime  # noqa: PLC0415

    settings = settings_of(ctx)

    async def run() -> T:
        async with Runtime(settings) as runtime:
            return await action(runtime)

    return asyncio.run(run())
