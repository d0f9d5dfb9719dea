"""Every Agent-Protocol route, assembled."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bots.agent_protocol.assistant_routes import assistant_router
from bots.agent_protocol.cron_routes import cron_router
from bots.agent_protocol.run_routes import run_router
from bots.agent_protocol.services import Services
from bots.agent_protocol.store_routes import store_router
from bots.agent_protocol.thread_routes import thread_router


def agent_protocol_routers(services: Services, *, version: str) -> list[APIRouter]:
    info = APIRouter(tags=["server"])

    @info.get("/info", summary="What this server is and supports")
    async def server_info() -> dict[str, Any]:
        return {
            "version": version,
            "langgraph_py_version": _langgraph_version(),
            "flags": {"assistants": True, "crons": True, "langsmith": False},
        }

    return [
        info,
        assistant_router(services),
        thread_router(services),
        run_router(services),
        cron_router(services),
        store_router(services),
    ]


def _langgraph_version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("langgraph")
