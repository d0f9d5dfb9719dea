"""/threads: a user's conversations, their state and history (read through LangGraph)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from langgraph.types import StateSnapshot
from pydantic import BaseModel, ConfigDict, Field

from bots.agent_protocol.services import Services, paginate
from bots.auth.keys import Principal
from bots.errors import Conflict
from bots.runs.records import ThreadNotFound
from bots.runs.served import BUILTIN, ServedGraph, thread_config, to_json
from graphs.assistant.history import check_thread_id
from memory.checkpoints import ThreadInfo


class ThreadCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    thread_id: str | None = Field(None, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ThreadSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metadata: dict[str, Any] | None = None
    ids: list[str] | None = Field(None, max_length=1000)
    status: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: Literal["thread_id", "created_at", "updated_at", "status"] | None = None
    sort_order: Literal["asc", "desc"] | None = None


class StateUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(10, ge=1, le=1000)
    before: dict[str, Any] | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


def snapshot_json(snap: StateSnapshot) -> dict[str, Any]:
    def checkpoint(config: Any) -> dict[str, Any] | None:
        if not config:
            return None
        conf = config.get("configurable", {})
        return {
            "thread_id": conf.get("thread_id"),
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf.get("checkpoint_id"),
            "checkpoint_map": conf.get("checkpoint_map"),
        }

    return {
        "values": to_json(snap.values),
        "next": list(snap.next),
        "tasks": [
            {
                "id": t.id,
                "name": t.name,
                "error": str(t.error) if t.error else None,
                "interrupts": to_json(list(t.interrupts)),
                "checkpoint": None,
                "state": None,
                "result": to_json(getattr(t, "result", None)),
            }
            for t in snap.tasks
        ],
        "checkpoint": checkpoint(snap.config),
        "metadata": to_json(snap.metadata),
        "created_at": snap.created_at,
        "parent_checkpoint": checkpoint(snap.parent_config),
        "interrupts": to_json(list(getattr(snap, "interrupts", ()))),
    }


def thread_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/threads", tags=["threads"])
    User = Annotated[Principal, Depends(services.principal)]
    registry = services.threads

    async def owned(thread_id: str, user: Principal) -> ThreadInfo:
        info = await registry.get(check_thread_id(thread_id))
        if info is None or info.user_id != user.user_id:
            raise ThreadNotFound(thread_id)
        return info

    async def graph_of(info: ThreadInfo) -> ServedGraph:
        return await services.graph(str(info.metadata.get("graph_id") or BUILTIN))

    async def status_of(thread_id: str) -> str:
        runs = await services.runs.store.search(thread_id=thread_id, limit=1)
        if runs and runs[0].status in ("pending", "running"):
            return "busy"
        return "error" if runs and runs[0].status == "error" else "idle"

    async def thread_json(info: ThreadInfo, *, values: bool = True) -> dict[str, Any]:
        state: Any = {}
        interrupts: dict[str, Any] = {}
        if values and info.turns >= 0:
            served = await graph_of(info)
            snap = await served.graph.aget_state(thread_config(info.thread_id, info.user_id))
            state = to_json(snap.values)
            for task in snap.tasks:
                if task.interrupts:
                    interrupts[task.id] = to_json(list(task.interrupts))
        return {
            "thread_id": info.thread_id,
            "created_at": info.created_at.isoformat(),
            "updated_at": info.updated_at.isoformat(),
            "metadata": info.metadata,
            "status": await status_of(info.thread_id),
            "values": state,
            "interrupts": interrupts,
        }

    @router.post("", summary="Create a thread")
    async def create(body: ThreadCreate, user: User) -> dict[str, Any]:
        from bots.runs.service import new_id  # noqa: PLC0415

        thread_id = check_thread_id(body.thread_id) if body.thread_id else new_id()
        info = await registry.create(thread_id, user.user_id, body.metadata)
        if info is None:
            existing = await registry.get(thread_id)
            if body.if_exists == "do_nothing" and existing and existing.user_id == user.user_id:
                return await thread_json(existing)
            raise Conflict(
                f"thread {thread_id!r} already exists",
                hint="pick another thread_id, leave it out, or send if_exists='do_nothing'",
                code="thread_exists",
            )
        return await thread_json(info, values=False)

    @router.post("/search", summary="Search your threads by metadata")
    async def search(body: ThreadSearch, user: User, response: Response) -> list[Any]:
        order = f"{body.sort_by or 'updated_at'} {(body.sort_order or 'desc').upper()}"
        rows = await registry.search(
            user.user_id, metadata=body.metadata, ids=body.ids, limit=body.limit + 1,
            offset=body.offset, order=order,
        )  # fmt: skip
        page = paginate(response, rows, body.limit, body.offset)
        found = [await thread_json(info) for info in page]
        return [t for t in found if body.status is None or t["status"] == body.status]

    @router.post("/count", summary="Count your threads")
    async def count(body: ThreadSearch, user: User) -> int:
        rows = await registry.search(user.user_id, metadata=body.metadata, limit=100_000)
        return len(rows)

    @router.get("/{thread_id}", summary="Get a thread with its current values")
    async def get(thread_id: str, user: User) -> dict[str, Any]:
        return await thread_json(await owned(thread_id, user))

    @router.patch("/{thread_id}", summary="Merge metadata into a thread")
    async def patch(thread_id: str, body: ThreadPatch, user: User) -> dict[str, Any]:
        info = await owned(thread_id, user)
        await registry.update_metadata(info.thread_id, body.metadata)
        return await thread_json(await owned(thread_id, user))

    @router.delete("/{thread_id}", status_code=204, summary="Delete a thread, its runs and state")
    async def delete(thread_id: str, user: User) -> Response:
        info = await owned(thread_id, user)
        await services.runs.delete_thread(info.thread_id)
        return Response(status_code=204)

    @router.get("/{thread_id}/state", summary="The thread's current state")
    async def state(thread_id: str, user: User, subgraphs: bool = False) -> dict[str, Any]:
        info = await owned(thread_id, user)
        served = await graph_of(info)
        config = thread_config(info.thread_id, info.user_id)
        return snapshot_json(await served.graph.aget_state(config, subgraphs=subgraphs))

    @router.get("/{thread_id}/state/{checkpoint_id}", summary="The state at a checkpoint")
    async def state_at(thread_id: str, checkpoint_id: str, user: User) -> dict[str, Any]:
        info = await owned(thread_id, user)
        served = await graph_of(info)
        config = thread_config(info.thread_id, info.user_id)
        config["configurable"]["checkpoint_id"] = checkpoint_id
        return snapshot_json(await served.graph.aget_state(config))

    @router.post("/{thread_id}/state/checkpoint", summary="The state at a checkpoint")
    async def state_checkpoint(thread_id: str, body: dict[str, Any], user: User) -> dict[str, Any]:
        checkpoint = body.get("checkpoint") or {}
        return await state_at(thread_id, str(checkpoint.get("checkpoint_id", "")), user)

    @router.post("/{thread_id}/state", summary="Write values into the thread's state")
    async def update_state(thread_id: str, body: StateUpdate, user: User) -> dict[str, Any]:
        info = await owned(thread_id, user)
        if await status_of(info.thread_id) == "busy":
            raise Conflict(
                "the thread has an active run", hint="wait for it or cancel it first",
                code="thread_busy",
            )  # fmt: skip
        served = await graph_of(info)
        config = thread_config(info.thread_id, info.user_id)
        checkpoint_id = body.checkpoint_id or (body.checkpoint or {}).get("checkpoint_id")
        if checkpoint_id:
            config["configurable"]["checkpoint_id"] = checkpoint_id
        written = await served.graph.aupdate_state(config, body.values, as_node=body.as_node)
        conf = written.get("configurable", {})
        return {"checkpoint": {"thread_id": conf.get("thread_id"),
                               "checkpoint_ns": conf.get("checkpoint_ns", ""),
                               "checkpoint_id": conf.get("checkpoint_id"),
                               "checkpoint_map": conf.get("checkpoint_map")}}  # fmt: skip

    @router.post("/{thread_id}/history", summary="The thread's past states, newest first")
    async def history(thread_id: str, body: HistoryQuery, user: User) -> list[Any]:
        info = await owned(thread_id, user)
        served = await graph_of(info)
        config = thread_config(info.thread_id, info.user_id)
        if body.checkpoint and body.checkpoint.get("checkpoint_id"):
            config["configurable"]["checkpoint_id"] = body.checkpoint["checkpoint_id"]
        before: Any = body.before
        if isinstance(before, str):
            before = {"configurable": {"checkpoint_id": before}}
        elif isinstance(before, dict) and "configurable" not in before:
            before = {"configurable": before}
        states = []
        async for snap in served.graph.aget_state_history(
            config, filter=body.metadata, before=before, limit=body.limit
        ):
            states.append(snapshot_json(snap))
        return states

    @router.get("/{thread_id}/history", summary="The thread's past states, newest first")
    async def history_get(thread_id: str, user: User, limit: int = 10) -> list[Any]:
        return await history(thread_id, HistoryQuery(limit=limit), user)

    return router
