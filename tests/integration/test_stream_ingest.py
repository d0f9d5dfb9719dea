"""Streaming ingestion on the real Redis (streams, consumer groups) and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis

from agents.embeddings.local import LocalMiniLM
from knowledge.ingest.pipeline import Ingestor
from knowledge.ingest.stream import StreamIngestor
from knowledge.vector.pgvector import PgVectorStore
from tests.conftest import Stack

pytestmark = pytest.mark.slow
EMBEDDER = LocalMiniLM()


def worker(
    stack: Stack, store: PgVectorStore, stream: str, claim_idle_ms: int = 60_000
) -> StreamIngestor:
    collection = f"s-{uuid.uuid4().hex[:8]}"
    return StreamIngestor(
        stack.url("redis"),
        lambda name: Ingestor(store, EMBEDDER, name or collection),
        stream=stream,
        consumer="w1",
        claim_idle_ms=claim_idle_ms,
    )


async def drain(ingestor: StreamIngestor) -> None:
    for _ in range(20):
        if await ingestor.poll(block_ms=100) == 0:
            return
    raise AssertionError("the stream did not drain")


async def test_events_are_ingested_acknowledged_or_dead_lettered(
    stack: Stack, store: PgVectorStore
) -> None:
    stream = f"test:ingest:{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(stack.url("redis"), decode_responses=True)
    consumer = worker(stack, store, stream)
    await consumer.setup()
    client.xadd(
        stream, {"source": "note-1", "text": "Ganymede is the largest moon.", "title": "N1"}
    )
    client.xadd(
        stream,
        {
            "source": "crm",
            "type": "records",
            "records": json.dumps([{"name": "Ada"}, {"name": "Alan"}]),
        },
    )
    client.xadd(stream, {"source": "broken"})  # no text: can never succeed
    client.xadd(stream, {"source": "note-1", "op": "delete"})
    await drain(consumer)
    assert (consumer.stats.ingested, consumer.stats.deleted, consumer.stats.dead) == (2, 1, 1)
    collection = consumer.ingestor_for("").collection
    assert await store.stats(collection) == {"documents": 1, "chunks": 2}
    dead_entries: Any = client.xrange(f"{stream}:dead")
    [(_, dead)] = dead_entries
    assert dead["source"] == "broken" and dead["error_code"] == "stream_event_invalid"
    assert client.xpending(stream, "daert-ingest")["pending"] == 0
    await consumer.aclose()
    client.close()


async def test_a_dead_workers_entries_are_claimed_and_ingested(
    stack: Stack, store: PgVectorStore
) -> None:
    stream = f"test:ingest:{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(stack.url("redis"), decode_responses=True)
    survivor = worker(stack, store, stream, claim_idle_ms=0)
    await survivor.setup()
    client.xadd(stream, {"source": "lost?", "text": "Europa has an ocean under its ice."})
    # A worker reads the entry and dies before acknowledging it.
    read: Any = client.xreadgroup("daert-ingest", "dead-worker", {stream: ">"}, count=10)
    assert len(read[0][1]) == 1
    assert client.xpending(stream, "daert-ingest")["pending"] == 1
    await drain(survivor)
    assert survivor.stats.ingested == 1
    assert client.xpending(stream, "daert-ingest")["pending"] == 0
    collection = survivor.ingestor_for("").collection
    assert await store.stats(collection) == {"documents": 1, "chunks": 1}
    await survivor.aclose()
    client.close()
