"""Options several assistant commands share (thread, user, cache opt-out)."""

from __future__ import annotations

from typing import Annotated

import typer

Thread = Annotated[
    str | None,
    typer.Option("--thread", "-t", help="Continue this thread (a new one is made if omitted)."),
]
User = Annotated[str, typer.Option("--user", "-u", help="Whose thread, memories and cache scope.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not answer from the cache.")]
Local = Annotated[
    bool,
    typer.Option(
        "--local",
        help="Run the assistant in this process even when `daert serve` runs for this data dir.",
    ),
]
