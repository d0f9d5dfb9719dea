"""Runs: create (background, wait, stream), list, get, join, join the stream, cancel.

What the SDK relies on: the first SSE event is `metadata` with the run id; stream and wait
responses carry `Content-Location` (the run) and a same-origin `Location` (where to reconnect:
the run's stream, or its join); a failed wait answers `{"__error__": ...}`.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from bots.agent_protocol.services import Services
from bots.agent_protocol.sse import SSE_HEADERS, sse
from bots.auth.keys import Principal
from bots.errors import Conflict
from bots.runs.records import Run, RunRequest, check_strategy
from bots.runs.served import check_modes
from bots.runs.service import new_id
from bots.runs.streams import check_event_id
from core.errors import InputError
from graphs.assistant.history import check_thread_id

MAX_TIMEOUT = 24 * 3600.0


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    assistant_id: str = Field(max_length=200)
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: str | list[str] | None = None
    multitask_strategy: str | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)
    interrupt_before: Any = None
    interrupt_after: Any = None
    webhook: str | None = None
    after_seconds: float | None = None
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None
    durability: Literal["sync", "async", "exit"] | None = None


UNSUPPORTED = ("interrupt_before", "interrupt_after", "webhook", "after_seconds",
               "checkpoint_id", "checkpoint")  # fmt: skip


def run_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["runs"])
    User = Annotated[Principal, Depends(services.principal)]
    runs = services.runs

    async def start(
        body: RunCreate, user: Principal, thread_id: str | None, surface: str,
        *, waiting: bool = False,
    ) -> Run:  # fmt: skip
        for name in UNSUPPORTED:
            if getattr(body, name) not in (None, [], {}):
                raise InputError(
                    f"{name} is not supported by this server",
                    hint=f"leave {name} out",
                    code="unsupported_option",
                )
        assistant = await services.assistants.get(body.assistant_id, user.user_id)
        await services.graph(assistant.graph_id)  # a graph no longer served: 404 now
        config = {**assistant.config, **(body.config or {})}
        if assistant.config.get("configurable") or (body.config or {}).get("configurable"):
            config["configurable"] = {
                **(assistant.config.get("configurable") or {}),
                **((body.config or {}).get("configurable") or {}),
            }
        request = RunRequest(
            assistant_id=assistant.assistant_id,
            graph_id=assistant.graph_id,
            input=body.input,
            command=body.command,
            config=config,
            context={**assistant.context, **(body.context or {})},
            metadata=body.metadata or {},
            # a client that waits reads the outcome only: no state per step, unless asked
            stream_modes=()
            if waiting and body.stream_mode is None
            else check_modes(body.stream_mode),
            multitask_strategy=check_strategy(body.multitask_strategy or "reject"),
            timeout=body.timeout,
            surface=surface,
            durability=body.durability,
        )
        create = body.if_not_exists == "create"
        if thread_id is not None:
            thread_id = check_thread_id(thread_id)
        elif body.on_completion == "keep":  # a stateless run whose thread stays afterwards
            thread_id, create = new_id(), True
        return await runs.start(user.user_id, request, thread_id=thread_id, create_thread=create)

    def locations(run: Run, tail: str) -> dict[str, str]:
        base = f"/threads/{run.thread_id}/runs/{run.run_id}"
        return {"Content-Location": base, "Location": f"{base}/{tail}"}

    def streaming(
        run: Run, after: str, modes: tuple[str, ...], *, cancel_on_disconnect: bool = False
    ) -> StreamingResponse:
        """The run's events as SSE; with `cancel_on_disconnect`, a client that goes away
        before the end cancels the run (the check runs once the response is over)."""
        background = (
            BackgroundTask(cancel_unless_done, run.run_id, run.user_id)
            if cancel_on_disconnect
            else None
        )
        return StreamingResponse(
            sse(runs.follow(run.run_id, after=after, modes=modes)),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **locations(run, "stream")},
            background=background,
        )

    async def cancel_unless_done(run_id: str, user_id: str) -> None:
        if not (await runs.store.get(run_id)).done:
            await runs.cancel(run_id, user_id)

    async def finished(run: Run) -> JSONResponse:
        done = await runs.outcome(run.run_id)
        headers = locations(run, "join")
        if done.status == "error" and done.error:
            body = {"__error__": {"error": done.error.get("code"),
                                  "message": done.error.get("message")}}  # fmt: skip
            return JSONResponse(body, headers=headers)
        return JSONResponse(done.output if done.output is not None else {}, headers=headers)

    # --- on a thread ----------------------------------------------------------------------

    @router.post("/threads/{thread_id}/runs", summary="Start a run in the background")
    async def create(thread_id: str, body: RunCreate, user: User) -> JSONResponse:
        run = await start(body, user, thread_id, "api")
        return JSONResponse(run.to_api(), headers={"Content-Location": locations(run, "")[
            "Content-Location"]})  # fmt: skip

    @router.post("/threads/{thread_id}/runs/stream", summary="Start a run and stream it (SSE)")
    async def create_stream(thread_id: str, body: RunCreate, user: User) -> StreamingResponse:
        run = await start(body, user, thread_id, "api")
        return streaming(run, "0-0", check_modes(body.stream_mode),
                         cancel_on_disconnect=body.on_disconnect == "cancel")  # fmt: skip

    @router.post("/threads/{thread_id}/runs/wait", summary="Start a run and wait for its output")
    async def create_wait(thread_id: str, body: RunCreate, user: User) -> JSONResponse:
        return await finished(await start(body, user, thread_id, "api", waiting=True))

    @router.get("/threads/{thread_id}/runs", summary="A thread's runs, newest first")
    async def list_runs(
        thread_id: str,
        user: User,
        response: Response,
        *,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        offset: Annotated[int, Query(ge=0)] = 0,
        status: str | None = None,
    ) -> list[Any]:
        await owned_thread(thread_id, user)
        rows = await runs.store.search(
            user_id=user.user_id, thread_id=thread_id, status=status, limit=limit + 1,
            offset=offset,
        )  # fmt: skip
        if len(rows) > limit:
            response.headers["X-Pagination-Next"] = str(offset + limit)
        return [r.to_api() for r in rows[:limit]]

    async def owned_thread(thread_id: str, user: Principal) -> None:
        from bots.runs.records import ThreadNotFound  # noqa: PLC0415

        info = await services.threads.get(check_thread_id(thread_id))
        if info is None or info.user_id != user.user_id:
            raise ThreadNotFound(thread_id)

    @router.get("/threads/{thread_id}/runs/{run_id}", summary="Get a run")
    async def get(thread_id: str, run_id: str, user: User) -> dict[str, Any]:
        return (await runs.get(run_id, user.user_id, thread_id)).to_api()

    @router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204,
                   summary="Delete a finished run's record")  # fmt: skip
    async def delete(thread_id: str, run_id: str, user: User) -> Response:
        run = await runs.get(run_id, user.user_id, thread_id)
        if not run.done:
            raise Conflict("the run is still active", hint="cancel it first", code="run_active")
        await runs.store.delete([run.run_id])
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/runs/{run_id}/join", summary="Wait for a run's output")
    async def join(thread_id: str, run_id: str, user: User) -> JSONResponse:
        return await finished(await runs.get(run_id, user.user_id, thread_id))

    @router.get("/threads/{thread_id}/runs/{run_id}/stream",
                summary="Join a run's stream; resume after Last-Event-ID")  # fmt: skip
    async def join_stream(
        thread_id: str,
        run_id: str,
        user: User,
        *,
        stream_mode: Annotated[list[str] | None, Query()] = None,
        last_event_id: Annotated[str | None, Header()] = None,
        cancel_on_disconnect: bool = False,
    ) -> StreamingResponse:
        run = await runs.get(run_id, user.user_id, thread_id)
        after = check_event_id(last_event_id) if last_event_id else "0-0"
        stored = tuple(run.kwargs.get("stream_modes") or ("values",))
        asked = [m for m in stream_mode or () if m]  # the SDK sends `stream_mode=` for none
        modes = check_modes(asked) if asked else (*stored, "custom")
        return streaming(run, after, modes, cancel_on_disconnect=cancel_on_disconnect)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel", summary="Cancel a run")
    async def cancel(
        thread_id: str,
        run_id: str,
        user: User,
        wait: bool = False,
        action: Literal["interrupt", "rollback"] = "interrupt",
    ) -> Response:
        await runs.get(run_id, user.user_id, thread_id)
        run = await runs.cancel(run_id, user.user_id, action=action)
        if wait and action == "interrupt":
            run = await runs.wait(run_id)
        if action == "rollback":
            return Response(status_code=204)
        return JSONResponse(run.to_api(), status_code=200 if wait else 202)

    # --- stateless (a temporary thread, deleted after the run) ----------------------------

    @router.post("/runs", summary="Start a stateless run in the background")
    async def create_stateless(body: RunCreate, user: User) -> JSONResponse:
        run = await start(body, user, None, "api")
        return JSONResponse(run.to_api(), headers={"Content-Location": f"/runs/{run.run_id}"})

    @router.post("/runs/stream", summary="Start a stateless run and stream it (SSE)")
    async def stream_stateless(body: RunCreate, user: User) -> StreamingResponse:
        run = await start(body, user, None, "api")
        return streaming(run, "0-0", check_modes(body.stream_mode),
                         cancel_on_disconnect=body.on_disconnect == "cancel")  # fmt: skip

    @router.post("/runs/wait", summary="Start a stateless run and wait for its output")
    async def wait_stateless(body: RunCreate, user: User) -> JSONResponse:
        return await finished(await start(body, user, None, "api", waiting=True))

    return router
