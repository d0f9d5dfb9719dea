"""Server-sent events from a run's stream: ids for `Last-Event-ID`, heartbeats while idle."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from bots.runs.streams import StreamEntry

HEARTBEAT = b": heartbeat\n\n"
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def frame(entry: StreamEntry) -> bytes:
    data = json.dumps(entry.data, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"event: {entry.event}\ndata: {data}\nid: {entry.id}\n\n".encode()


async def sse(entries: AsyncIterator[StreamEntry | None]) -> AsyncIterator[bytes]:
    async for entry in entries:
        yield HEARTBEAT if entry is None else frame(entry)
