"""The CLI's global options, shared by every command module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from daert.settings import Settings, load_settings

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
