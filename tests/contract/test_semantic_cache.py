"""The SemanticCache contract on the real Redis 8 (vector sets) with the real local embedder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from agents.embeddings.local import LocalMiniLM
from memory.semantic_cache.ports import CacheScope
from memory.semantic_cache.redis import RedisSemanticCache
from tests.conftest import Stack

pytestmark = pytest.mark.slow
EMBEDDER = LocalMiniLM()
CHAT = CacheScope(alias="chat", system_prompt="You are helpful.", tools=["retrieve"])


@pytest.fixture
async def cache(stack: Stack) -> AsyncIterator[RedisSemanticCache]:
    store = RedisSemanticCache(
        stack.url("redis"), prefix=f"t:{uuid.uuid4().hex[:6]}", threshold=0.8
    )
    yield store
    await store.clear()
    await store.aclose()


async def vec(text: str) -> list[float]:
    return (await EMBEDDER.embed([text]))[0]


async def test_a_paraphrase_hits_and_another_question_misses(cache: RedisSemanticCache) -> None:
    question = "What is the capital of France?"
    await cache.store(question, await vec(question), "Paris.", CHAT, metadata={"sources": ["kb"]})
    hit = await cache.lookup("capital city of France?", await vec("capital city of France?"), CHAT)
    assert hit is not None and hit.answer == "Paris." and hit.metadata == {"sources": ["kb"]}
    assert hit.similarity > 0.8
    other = "How do I bake sourdough bread?"
    assert await cache.lookup(other, await vec(other), CHAT) is None
    stats = await cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)


async def test_scopes_never_mix(cache: RedisSemanticCache) -> None:
    question = "What is the capital of France?"
    vector = await vec(question)
    await cache.store(question, vector, "Paris.", CHAT)
    for other in [
        CacheScope(alias="judge", system_prompt=CHAT.system_prompt, tools=CHAT.tools),
        CacheScope(alias="chat", system_prompt="Answer in French.", tools=CHAT.tools),
        CacheScope(alias="chat", system_prompt=CHAT.system_prompt, tools=["retrieve", "web"]),
        CacheScope(alias="chat", system_prompt=CHAT.system_prompt, tools=CHAT.tools, tenant="acme"),
    ]:
        assert await cache.lookup(question, vector, other) is None, other
    assert await cache.lookup(question, vector, CHAT) is not None


async def test_new_knowledge_invalidates_and_entries_expire(cache: RedisSemanticCache) -> None:
    question = "Who maintains the VPN?"
    vector = await vec(question)
    await cache.store(question, vector, "Team A.", CHAT)
    assert await cache.lookup(question, vector, CHAT) is not None
    await cache.knowledge_changed(CHAT.collection)  # e.g. new documents were ingested
    assert await cache.lookup(question, vector, CHAT) is None
    await cache.store(question, vector, "Team B.", CHAT, ttl=1)
    hit = await cache.lookup(question, vector, CHAT)
    assert hit is not None and hit.answer == "Team B."
    await asyncio.sleep(1.5)  # the entry's TTL, not a performance expectation
    assert await cache.lookup(question, vector, CHAT) is None


async def test_storing_again_under_a_run_key_replaces_the_entry(
    cache: RedisSemanticCache,
) -> None:
    """A run retried after its worker died caches its answer once, not twice."""
    question = "How tall is the Eiffel tower?"
    vector = await vec(question)
    before = (await cache.stats()).entries
    await cache.store(question, vector, "330 m.", CHAT, key="run-1")
    await cache.store(question, vector, "330 metres.", CHAT, key="run-1")
    assert (await cache.stats()).entries == before + 1
    hit = await cache.lookup(question, vector, CHAT)
    assert hit is not None
    assert hit.answer == "330 metres."
    await cache.store(question, vector, "330 m.", CHAT, key="run-2")  # another run: its own
    assert (await cache.stats()).entries == before + 2
