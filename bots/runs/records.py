"""What a run is: its statuses, double-texting strategies, the record and the errors about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from core.errors import DaertError, InputError

RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted", "cancelled"]
ACTIVE: tuple[RunStatus, ...] = ("pending", "running")
TERMINAL: tuple[RunStatus, ...] = ("success", "error", "timeout", "interrupted", "cancelled")
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
STRATEGIES: tuple[str, ...] = get_args(MultitaskStrategy)
# How many times a run may start: the first attempt and one retry after a lost worker.
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class RunRequest:
    """What a surface asks for: which assistant, on which thread, with what input."""

    assistant_id: str
    graph_id: str
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    stream_modes: tuple[str, ...] = ("values",)
    multitask_strategy: MultitaskStrategy = "reject"
    timeout: float | None = None
    surface: str = "api"
    durability: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """The part the worker needs to execute the run, stored with it as JSON."""
        return {
            "graph_id": self.graph_id,
            "input": self.input,
            "command": self.command,
            "config": self.config,
            "context": self.context,
            "stream_modes": list(self.stream_modes),
            "surface": self.surface,
            "durability": self.durability,
        }


@dataclass(frozen=True)
class Run:
    run_id: str
    thread_id: str
    assistant_id: str
    user_id: str
    status: RunStatus
    multitask_strategy: str
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    attempt: int
    elapsed: float
    timeout: float | None
    error: dict[str, Any] | None
    output: Any
    temporary: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def to_api(self) -> dict[str, Any]:
        """The Agent-Protocol shape of a run."""
        body: dict[str, Any] = {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "status": self.status,
            "metadata": self.metadata,
            "multitask_strategy": self.multitask_strategy,
            "kwargs": self.kwargs,
            "attempt": self.attempt,
            "elapsed": round(self.elapsed, 3),  # seconds spent running, over every attempt
        }
        if self.error:
            body["error"] = self.error
        return body


class RunNotFound(DaertError):
    code = "run_not_found"
    http_status = 404

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"no run {run_id[:64]!r}",
            hint="list the thread's runs: GET /threads/{thread_id}/runs or `daert runs list`",
        )


class ThreadNotFound(DaertError):
    code = "thread_not_found"
    http_status = 404

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"no thread {thread_id[:64]!r}",
            hint="create it first (POST /threads), or pass if_not_exists='create'",
        )


class ThreadBusy(DaertError):
    code = "thread_busy"
    http_status = 409

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"thread {thread_id[:64]!r} already has an active run ({run_id})",
            hint="wait for it (GET .../runs/{run_id}/join), cancel it, or send the run with "
            "multitask_strategy 'enqueue', 'interrupt' or 'rollback'",
        )


def check_strategy(value: str) -> MultitaskStrategy:
    if value not in STRATEGIES:
        raise InputError(
            f"unknown multitask_strategy {value[:32]!r}",
            hint=f"use one of: {', '.join(STRATEGIES)}",
            code="invalid_multitask_strategy",
        )
    return value  # type: ignore[return-value]
