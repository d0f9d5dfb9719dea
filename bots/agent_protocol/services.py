"""What the Agent-Protocol routes stand on, built by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Response

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

    from bots.agent_protocol.assistants import AssistantStore
    from bots.agent_protocol.crons import CronStore
    from bots.auth.keys import Principal
    from bots.runs.served import ServedGraph
    from bots.runs.service import RunService
    from memory.checkpoints import ThreadRegistry


@dataclass
class Services:
    runs: RunService
    threads: ThreadRegistry
    assistants: AssistantStore
    crons: CronStore
    store: BaseStore
    graph: Callable[[str], Awaitable[ServedGraph]]  # by graph id
    principal: Callable[..., Awaitable[Principal]]  # the FastAPI dependency


def paginate(response: Response, rows: list[Any], limit: int, offset: int) -> list[Any]:
    """Rows were fetched with one extra to learn whether more exist; say where they start."""
    if len(rows) > limit:
        response.headers["X-Pagination-Next"] = str(offset + limit)
        response.headers["X-Pagination-Total"] = str(offset + len(rows))
        return rows[:limit]
    return rows
