"""Streaming ingestion: a Redis Stream consumer group, at-least-once, nothing lost.

Producers `XADD daert:ingest * source <id> text <content> [title ..] [type article|code|
records] [format ..] [records <json list>] [metadata <json object>] [collection ..] [op
upsert|delete]`. A worker reads with XREADGROUP, ingests, and acknowledges only after the
write committed. Entries a dead worker left pending are claimed again (XAUTOCLAIM) after
`claim_idle_ms`. An entry that can never succeed (bad input) is copied to the dead-letter
stream `<stream>:dead` with the reason, then acknowledged; a transient failure (the database
is down) is left pending and retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from core.errors import DaertError, InputError, ServiceError
from knowledge.ingest import DEFAULT_GROUP, DEFAULT_STREAM
from knowledge.ingest.loaders import DEFAULT_MAX_BYTES, LoadedDocument
from knowledge.ingest.pipeline import Ingestor, SourceResult

log = logging.getLogger("daert.ingest.stream")


def parse_event(
    fields: dict[str, str], max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, str, LoadedDocument | None]:
    """(collection or "", op, document) from a stream entry; InputError when malformed."""
    size = sum(len(v) for v in fields.values())
    if size > max_bytes:
        raise InputError(
            f"stream entry of {size} bytes is over the {max_bytes} byte limit",
            hint="split the document, or raise DAERT_INGEST_MAX_BYTES",
            code="source_too_large",
        )
    source = fields.get("source", "").strip()
    if not source:
        raise InputError("stream entry has no 'source'", code="stream_event_invalid")
    op = fields.get("op", "upsert")
    if op not in {"upsert", "delete"}:
        raise InputError(
            f"unknown op {op!r}", hint="use upsert or delete", code="stream_event_invalid"
        )
    collection = fields.get("collection", "")
    if op == "delete":
        return collection, op, None
    doc_type = fields.get("type", "article")
    if doc_type not in {"article", "code", "records"}:
        raise InputError(f"unknown type {doc_type!r}", code="stream_event_invalid")
    try:
        metadata = json.loads(fields.get("metadata", "{}"))
        records = json.loads(fields["records"]) if "records" in fields else []
    except json.JSONDecodeError as err:
        raise InputError(f"bad JSON in entry: {err}", code="stream_event_invalid") from err
    if not isinstance(metadata, dict) or not isinstance(records, list):
        raise InputError("metadata must be an object, records a list", code="stream_event_invalid")
    text = fields.get("text", "")
    if doc_type == "records" and not records:
        raise InputError("a records entry needs 'records'", code="stream_event_invalid")
    if doc_type != "records" and not text.strip():
        raise InputError("entry has no 'text'", code="stream_event_invalid")
    document = LoadedDocument(
        source=source,
        doc_type=doc_type,
        text=text,
        title=fields.get("title") or None,
        fmt=fields.get("format", "text"),
        records=[r if isinstance(r, dict) else {"value": r} for r in records],
        metadata={k: v for k, v in metadata.items() if isinstance(v, str | int | float)},
    )
    return collection, op, document


@dataclass
class StreamStats:
    ingested: int = 0
    deleted: int = 0
    dead: int = 0
    retried: int = 0


class StreamIngestor:
    """Consumes one stream in one consumer group; ingestors are made per collection."""

    def __init__(
        self,
        redis_url: str,
        ingestor_for: Callable[[str], Ingestor],
        *,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        consumer: str | None = None,
        claim_idle_ms: int = 60_000,
        batch: int = 16,
    ) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.ingestor_for = ingestor_for
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{id(self):x}"
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.stats = StreamStats()
        self._prepared: set[str] = set()

    async def setup(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise
        except RedisError as err:
            raise ServiceError(
                f"Redis is unreachable, so the stream {self.stream} cannot be read: {err}",
                hint="check that Redis (DAERT_REDIS_URL, or the embedded one: `daert up`) is up; "
                "`daert doctor` shows it",
                code="redis_unreachable",
            ) from err

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            collection, op, document = parse_event(fields)
            ingestor = self.ingestor_for(collection)
            parse_event(fields, ingestor.max_bytes)  # that collection's size limit
            if ingestor.collection not in self._prepared:
                await ingestor.prepare()
                self._prepared.add(ingestor.collection)
            if op == "delete":
                await ingestor.remove(fields["source"].strip())
                self.stats.deleted += 1
            else:
                assert document is not None  # noqa: S101 - parse_event returns one for upsert
                result: SourceResult = await ingestor.ingest_loaded(document)
                self.stats.ingested += result.outcome in {"added", "updated"}
        except InputError as err:  # can never succeed: keep it, with the reason, and move on
            dead: dict[Any, Any] = {
                **fields,
                "error_code": err.code,
                "error": err.message,
                "entry": entry_id,
            }
            await self.redis.xadd(f"{self.stream}:dead", dead)
            self.stats.dead += 1
        except DaertError as err:  # transient: stay pending, retried after claim_idle_ms
            log.warning("entry %s not ingested, will retry: %s", entry_id, err)
            self.stats.retried += 1
            return
        await self.redis.xack(self.stream, self.group, entry_id)

    async def poll(self, block_ms: int = 1000) -> int:
        """One round: reclaim stale pending entries, then read new ones. Returns entries seen."""
        seen = 0
        claimed: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        for entry_id, fields in claimed[1]:
            if fields:  # None when the entry was trimmed away
                await self._handle(entry_id, fields)
                seen += 1
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=block_ms
        )
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                await self._handle(entry_id, fields)
                seen += 1
        return seen

    async def run(self, stop: asyncio.Event) -> None:
        await self.setup()
        while not stop.is_set():
            await self.poll()
