"""Each run's events in a Redis Stream: appended by the worker, replayed by any server process.

Entries carry the event name (`e`) and its JSON (`d`); their Redis ids are the SSE event ids,
so a client reconnecting with `Last-Event-ID` resumes right after the last event it saw. The
stream ends with an `end` entry, after which it is kept for `retention` seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import InputError

if TYPE_CHECKING:
    from redis.asyncio import Redis

END = "end"
# While a run runs its stream lives at least this long, in case its worker dies and nothing
# ever ends it; the sweeper ends such runs long before.
RUNNING_TTL = 2 * 24 * 3600


@dataclass(frozen=True)
class StreamEntry:
    id: str
    event: str
    data: Any


def check_event_id(value: str) -> str:
    """A `Last-Event-ID` is a Redis stream id (`<ms>-<seq>`); anything else is a 400."""
    head, _, tail = value.partition("-")
    if not (head.isdigit() and tail.isdigit() and len(value) <= 41):
        raise InputError(
            f"invalid Last-Event-ID {value[:48]!r}",
            hint="send the id of the last event you received, as the server sent it",
            code="invalid_event_id",
        )
    return value


class StreamWriter:
    """Appends one run's events in order, in as few round trips as the stream allows: while
    one batch is on its way to Redis the next one gathers (a fast graph's events go in one
    pipeline; a slow one's each go at once)."""

    def __init__(self, streams: RunStreams, run_id: str, *, first: bool) -> None:
        self.streams = streams
        self.key = streams.key(run_id)
        self.run_id = run_id
        self._expire = RUNNING_TTL if first else 0
        self._pending: list[dict[str, str]] = []
        self._sending: asyncio.Task[None] | None = None

    def add(self, event: str, data: Any) -> None:
        self._pending.append({"e": event, "d": json.dumps(data, separators=(",", ":"),
                                                         default=str)})  # fmt: skip
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            async with self.streams.redis.pipeline(transaction=False) as pipe:
                for fields in batch:
                    pipe.xadd(self.key, fields)  # type: ignore[arg-type]
                if self._expire:
                    pipe.expire(self.key, self._expire)
                    self._expire = 0
                await pipe.execute()

    async def flush(self) -> None:
        """Wait until everything added is in Redis (raises what sending raised)."""
        while True:
            sending = self._sending
            if sending is not None and not sending.done():
                await asyncio.shield(sending)
                continue
            if sending is not None:
                sending.result()
            if not self._pending:
                return
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def end(self, status: str, **extra: Any) -> None:
        """Close the stream after everything added, and keep it for the retention period."""
        self.add(END, {"run_id": self.run_id, "status": status, **extra})
        await self.flush()
        await self.streams.redis.expire(self.key, self.streams.retention)


class RunStreams:
    def __init__(
        self, redis: Redis, *, prefix: str = "daert:run", retention: int = 24 * 3600
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention = retention

    def key(self, run_id: str) -> str:
        return f"{self.prefix}:{run_id}:events"

    def writer(self, run_id: str, *, first: bool = False) -> StreamWriter:
        """A batching writer for the process that runs the run (`first`: set its TTL)."""
        return StreamWriter(self, run_id, first=first)

    async def end(self, run_id: str, status: str, **extra: Any) -> None:
        """Close the stream (idempotent for readers: they stop at the first `end`)."""
        key = self.key(run_id)
        payload = json.dumps({"run_id": run_id, "status": status, **extra}, default=str)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": END, "d": payload})
            pipe.expire(key, self.retention)
            await pipe.execute()

    async def ended(self, run_id: str) -> bool:
        last: Any = await self.redis.xrevrange(self.key(run_id), count=1)
        return bool(last) and last[0][1].get("e") == END

    async def exists(self, run_id: str) -> bool:
        return bool(await self.redis.exists(self.key(run_id)))

    async def delete(self, run_id: str) -> None:
        await self.redis.delete(self.key(run_id))

    async def read(
        self, run_id: str, after: str = "0-0", *, idle: float = 10.0
    ) -> AsyncIterator[StreamEntry | None]:
        """Entries after `after`, live, until `end` (included). Yields None after `idle`
        seconds without an entry, so the caller can send a heartbeat or check the run."""
        key = self.key(run_id)
        last = after
        while True:
            found: Any = await self.redis.xread({key: last}, count=256, block=int(idle * 1000))
            if not found:
                yield None
                continue
            for entry_id, fields in found[0][1]:
                last = entry_id
                entry = StreamEntry(str(entry_id), fields["e"], json.loads(fields["d"]))
                yield entry
                if entry.event == END:
                    return
