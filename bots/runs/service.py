"""What surfaces call: start a run, follow its events, wait for it, cancel it.

Any process can do any of these for any run: the run is in PostgreSQL, its job in
procrastinate, its events in Redis.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bots.runs.queue import LocalRunner, RunQueue
from bots.runs.records import Run, RunRequest, ThreadNotFound
from bots.runs.store import RunStore
from bots.runs.streams import END, RunStreams, StreamEntry

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

ALWAYS = frozenset({"metadata", "error", END})


@dataclass(frozen=True)
class Outcome:
    status: str
    output: Any
    error: dict[str, Any] | None


def new_id() -> str:
    """A time-ordered UUID (v7): ids sort in creation order, as LangGraph's do."""
    return str(uuid.uuid7()) if hasattr(uuid, "uuid7") else _uuid7()


def _uuid7() -> str:
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    ms = time.time_ns() // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def wanted_events(modes: tuple[str, ...]) -> frozenset[str]:
    """SSE event names a client asking for `modes` receives."""
    names = {"messages" if m in ("messages", "messages-tuple") else m for m in modes}
    return frozenset(names) | ALWAYS


class RunService:
    def __init__(
        self,
        store: RunStore,
        streams: RunStreams,
        queue: RunQueue,
        *,
        forget_thread: Callable[[str], Awaitable[None]] | None = None,
        rollback: Callable[[str, list[str]], Awaitable[None]] | None = None,
        local: LocalRunner | None = None,
    ) -> None:
        self.local = local
        self.store = store
        self.streams = streams
        self.queue = queue
        self.forget_thread = forget_thread
        self.rollback = rollback

    async def start(
        self,
        user_id: str,
        request: RunRequest,
        *,
        thread_id: str | None = None,
        create_thread: bool = False,
    ) -> Run:
        """Create a run and start it: here at once when this process works runs, has room and
        nothing runs on the thread, else through the queue. Without a thread, the run gets
        a temporary one (a stateless run)."""
        temporary = thread_id is None
        run, displaced, behind = await self.store.create(
            new_id(), thread_id or new_id(), user_id, request,
            create_thread=create_thread, temporary=temporary,
        )  # fmt: skip
        for old in displaced:
            await self.queue.abort(old.run_id)
            if old.was == "pending":  # never started: nobody else will end its stream
                await self.streams.end(old.run_id, "interrupted")
        if self.local is not None and not behind and self.local.has_room():
            self.local.start(run)  # nothing to wait for: start now, here
        else:
            await self.queue.enqueue(run)
        return run

    async def get(self, run_id: str, user_id: str | None, thread_id: str | None = None) -> Run:
        run = await self.store.get(run_id, user_id)
        if thread_id is not None and run.thread_id != thread_id:
            await self.store.get("\x00" + run_id)  # the same 404 as an unknown run
        return run

    async def cancel(
        self,
        run_id: str,
        user_id: str | None,
        *,
        action: Literal["interrupt", "rollback"] = "interrupt",
    ) -> Run:
        old = await self.store.cancel(run_id, user_id, "cancelled")
        if old.was in ("pending", "running"):
            await self.queue.abort(run_id)
            if old.was == "pending":
                await self.streams.end(run_id, "cancelled")
        run = await self.store.get(run_id)
        if action == "rollback" and self.rollback is not None:
            await self.rollback(run.thread_id, [run_id])
        return run

    async def follow(
        self, run_id: str, *, after: str = "0-0", modes: tuple[str, ...] = ("values",),
        idle: float = 10.0,
    ) -> AsyncIterator[StreamEntry | None]:  # fmt: skip
        """The run's events for a client (filtered to its modes) until `end`; None when idle
        (send a heartbeat). A finished run whose stream has expired still ends."""
        wanted = wanted_events(modes)
        async for entry in self.streams.read(run_id, after, idle=idle):
            if entry is None:
                run = await self.store.get(run_id)
                if run.done and not await self.streams.exists(run_id):
                    yield StreamEntry(f"{int(run.updated_at.timestamp() * 1000)}-0", END,
                                      {"run_id": run_id, "status": run.status})  # fmt: skip
                    return
                yield None
            elif entry.event in wanted:
                yield entry

    async def outcome(self, run_id: str) -> Outcome:
        """Block until the run ends; how it ended (from its `end` event when that carries the
        outcome, else from the database)."""
        async for entry in self.follow(run_id, modes=()):
            if entry is not None and entry.event == END:
                if "output" in entry.data:
                    return Outcome(entry.data["status"], entry.data["output"],
                                   entry.data.get("error"))  # fmt: skip
                break
        run = await self.store.get(run_id)
        return Outcome(run.status, run.output, run.error)

    async def wait(self, run_id: str, *, idle: float = 10.0) -> Run:
        """Block until the run ends; the finished run."""
        async for entry in self.follow(run_id, modes=(), idle=idle):
            if entry is not None and entry.event == END:
                break
        return await self.store.get(run_id)

    async def delete_thread(self, thread_id: str) -> None:
        for run in await self.store.active(thread_id):
            with contextlib.suppress(Exception):
                await self.cancel(run.run_id, None)
        await self.store.delete_thread(thread_id)
        if self.forget_thread is not None:
            await self.forget_thread(thread_id)


async def delete_run_checkpoints(
    pool: AsyncConnectionPool[Any], thread_id: str, run_ids: list[str]
) -> None:
    """Roll a thread back: drop the checkpoints the given runs wrote, and the runs."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "DELETE FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = ANY(%s) "
            "RETURNING checkpoint_ns, checkpoint_id",
            (thread_id, run_ids),
        )
        gone = await cur.fetchall()
        if gone:
            await conn.execute(
                "DELETE FROM checkpoint_writes WHERE thread_id = %s AND "
                "(checkpoint_ns, checkpoint_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                (thread_id, [g[0] for g in gone], [g[1] for g in gone]),
            )
        await conn.execute("DELETE FROM daert_runs WHERE run_id = ANY(%s)", (run_ids,))


__all__ = ["RunService", "ThreadNotFound", "delete_run_checkpoints", "new_id"]
