"""HTTP routes for code sessions: a sandbox session lives in the server, across requests.

`daert exec --session NAME` uses these, so a session outlives one CLI invocation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from tools.code_exec.ports import CodeSandbox, check_session_name

MAX_CODE_CHARS = 1_000_000


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=MAX_CODE_CHARS, description="Python source to run.")
    timeout: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="Seconds; the server's default when left out, at most DAERT_CODE_MAX_TIMEOUT.",
    )  # fmt: skip


SessionId = Annotated[str, Path(description="1-64 letters, digits, . _ -", max_length=64)]


def _session(name: str) -> str:
    return f"api-{check_session_name(name)}"


def code_router(sandbox: Callable[[], CodeSandbox]) -> APIRouter:
    """`sandbox()` returns the server's one sandbox (built on first use)."""
    router = APIRouter(prefix="/v1/code", tags=["code"])

    @router.post("/execute", summary="Run code in a fresh sandbox, then discard it")
    async def execute_once(body: ExecuteRequest) -> dict[str, Any]:
        box = sandbox()
        result = await box.execute(body.code, timeout=body.timeout)
        return dataclasses.asdict(result)

    @router.post(
        "/sessions/{session}/execute",
        summary="Run code in a named session; its state persists between calls",
    )
    async def execute(session: SessionId, body: ExecuteRequest) -> dict[str, Any]:
        name = _session(session)  # a bad name is refused before any sandbox is built
        result = await sandbox().execute(body.code, session=name, timeout=body.timeout)
        data = dataclasses.asdict(result)
        data["session"] = session
        return data

    @router.delete("/sessions/{session}", status_code=204, summary="Close a session")
    async def close(session: SessionId) -> Response:
        name = _session(session)
        await sandbox().close(name)
        return Response(status_code=204)

    return router
