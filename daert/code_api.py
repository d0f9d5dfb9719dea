"""HTTP routes for code sessions: a sandbox session lives in the server, across requests.

`daert exec --session NAME` uses these, so a session outlives one CLI invocation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from daert.errors import require_match
from tools.code_exec.ports import CodeSandbox

SESSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_CODE_CHARS = 1_000_000


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=MAX_CODE_CHARS, description="Python source to run.")
    timeout: float | None = Field(None, gt=0, le=3600, description="Seconds; server default.")


SessionId = Annotated[str, Path(description="1-64 letters, digits, . _ -", max_length=64)]


def _session(name: str) -> str:
    checked = require_match(
        SESSION, name, what="session name", code="invalid_session",
        hint="session names are 1-64 letters, digits and . _ -",
    )  # fmt: skip
    return f"api-{checked}"


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
        result = await sandbox().execute(body.code, session=_session(session),
                                         timeout=body.timeout)  # fmt: skip
        data = dataclasses.asdict(result)
        data["session"] = session
        return data

    @router.delete("/sessions/{session}", status_code=204, summary="Close a session")
    async def close(session: SessionId) -> Response:
        await sandbox().close(_session(session))
        return Response(status_code=204)

    return router
