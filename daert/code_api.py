"""HTTP routes for code sessions: a sandbox session lives in the server, across requests.

`daert exec --session NAME` uses these, so a session outlives one CLI invocation.
"""

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from bots.auth.keys import Principal
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


def _session(name: str, user: str) -> str:
    """The sandbox's name for a user's session: users never share one, whatever they call it."""
    owner = hashlib.sha256(user.encode()).hexdigest()[:12]
    return f"api-{owner}-{check_session_name(name)}"


async def _anyone() -> Principal:
    return Principal("local", admin=True, key_id=None)


def code_router(
    sandbox: Callable[[], CodeSandbox],
    principal: Callable[..., Awaitable[Principal]] = _anyone,
) -> APIRouter:
    """`sandbox()` returns the server's one sandbox (built on first use); `principal` is the
    server's key check: a session belongs to the user who named it."""
    router = APIRouter(prefix="/v1/code", tags=["code"])
    User = Annotated[Principal, Depends(principal)]

    @router.post("/execute", summary="Run code in a fresh sandbox, then discard it")
    async def execute_once(body: ExecuteRequest, user: User) -> dict[str, Any]:
        box = sandbox()
        result = await box.execute(body.code, timeout=body.timeout)
        return dataclasses.asdict(result)

    @router.post(
        "/sessions/{session}/execute",
        summary="Run code in a named session; its state persists between calls",
    )
    async def execute(session: SessionId, body: ExecuteRequest, user: User) -> dict[str, Any]:
        name = _session(session, user.user_id)  # a bad name is refused before any sandbox is built
        result = await sandbox().execute(body.code, session=name, timeout=body.timeout)
        data = dataclasses.asdict(result)
        data["session"] = session
        return data

    @router.delete("/sessions/{session}", status_code=204, summary="Close a session")
    async def close(session: SessionId, user: User) -> Response:
        name = _session(session, user.user_id)
        await sandbox().close(name)
        return Response(status_code=204)

    return router
