"""/runs/crons: stored schedules (they fire through the scheduler)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from bots.agent_protocol.services import Services, paginate
from bots.auth.keys import Principal
from bots.runs.records import ThreadNotFound, check_strategy
from bots.runs.served import check_modes
from graphs.assistant.history import check_thread_id


class CronCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    assistant_id: str = Field(max_length=200)
    schedule: str = Field(max_length=200)
    timezone: str | None = Field(None, max_length=64)
    input: Any = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    stream_mode: str | list[str] | None = None
    multitask_strategy: str | None = None
    end_time: datetime | None = None
    enabled: bool = True
    on_run_completed: str | None = None


class CronPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    schedule: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    input: Any = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: str | None = None


class CronSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)


def cron_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["crons"])
    User = Annotated[Principal, Depends(services.principal)]
    crons = services.crons

    async def create(body: CronCreate, user: Principal, thread_id: str | None) -> dict[str, Any]:
        assistant = await services.assistants.get(body.assistant_id, user.user_id)
        if thread_id is not None:
            info = await services.threads.get(check_thread_id(thread_id))
            if info is None or info.user_id != user.user_id:
                raise ThreadNotFound(thread_id)
        payload = {
            "input": body.input,
            "config": body.config or {},
            "context": body.context or {},
            "stream_mode": list(check_modes(body.stream_mode)),
            "multitask_strategy": check_strategy(body.multitask_strategy or "enqueue"),
        }
        record = await crons.create(
            user.user_id, assistant_id=assistant.assistant_id, schedule=body.schedule,
            timezone=body.timezone, payload=payload, metadata=body.metadata,
            thread_id=thread_id, end_time=body.end_time, enabled=body.enabled,
            on_run_completed=body.on_run_completed,
        )  # fmt: skip
        return record.to_api()

    @router.post("/runs/crons", summary="Create a cron (a fresh thread each time it fires)")
    async def create_stateless(body: CronCreate, user: User) -> dict[str, Any]:
        return await create(body, user, None)

    @router.post("/threads/{thread_id}/runs/crons", summary="Create a cron on a thread")
    async def create_on_thread(thread_id: str, body: CronCreate, user: User) -> dict[str, Any]:
        return await create(body, user, thread_id)

    @router.post("/runs/crons/search", summary="Search your crons")
    async def search(body: CronSearch, user: User, response: Response) -> list[Any]:
        rows = await crons.search(
            user.user_id, assistant_id=body.assistant_id, thread_id=body.thread_id,
            enabled=body.enabled, limit=body.limit + 1, offset=body.offset,
        )  # fmt: skip
        return [r.to_api() for r in paginate(response, rows, body.limit, body.offset)]

    @router.post("/runs/crons/count", summary="Count your crons")
    async def count(body: CronSearch, user: User) -> int:
        rows = await crons.search(
            user.user_id, assistant_id=body.assistant_id, thread_id=body.thread_id,
            limit=100_000,
        )  # fmt: skip
        return len(rows)

    @router.patch("/runs/crons/{cron_id}", summary="Change a cron")
    async def update(cron_id: str, body: CronPatch, user: User) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        payload = {k: changes.pop(k) for k in ("input", "config", "context") if k in changes}
        if payload:
            changes["payload"] = payload
        return (await crons.update(cron_id, user.user_id, changes)).to_api()

    @router.delete("/runs/crons/{cron_id}", status_code=204, summary="Delete a cron")
    async def delete(cron_id: str, user: User) -> Response:
        await crons.delete(cron_id, user.user_id)
        return Response(status_code=204)

    return router
