"""SemanticCache on Redis 8 vector sets: VADD/VSIM with attributes and FILTER, payloads with TTL.

Each entry is an element of one vector set (per embedding dimension) whose attributes carry its
scope; the answer lives in a hash that expires. A lookup is one VSIM with a FILTER on the scope
and the collection's current knowledge version, so ingesting into a collection (which bumps
the version) makes every answer that depended on it unreachable at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from core.errors import ServiceError
from memory.semantic_cache.ports import CacheHit, CacheScope, CacheStats


def _quote(value: object) -> str:
    return json.dumps(value)  # FILTER expressions take JSON-style literals


def _down(err: RedisError) -> ServiceError:
    return ServiceError(
        f"the semantic cache is unavailable: {err}",
        hint="check that Redis is up (`daert doctor`); answers are made without the cache "
        "meanwhile",
        code="cache_down",
    )


def redis_client(url: str) -> aioredis.Redis:
    """A client for the cache (and anything else that shares it): text replies, and a Redis
    that never answers fails in 2 s, because a cache must not hold a turn up."""
    return aioredis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
    )


class RedisSemanticCache:
    def __init__(
        self,
        target: str | aioredis.Redis,
        *,
        prefix: str = "daert:cache",
        threshold: float = 0.92,
        ttl: int = 7 * 24 * 3600,
    ) -> None:
        """`target`: a URL (the cache opens and closes its own client) or the runtime's shared
        client, which must decode responses (see `redis_client`)."""
        self._owns_client = isinstance(target, str)
        self.redis = redis_client(target) if isinstance(target, str) else target
        self.prefix = prefix
        self.threshold = threshold
        self.ttl = ttl

    async def _command(self, *args: object) -> Any:
        """redis-py leaves execute_command untyped; vector sets have no typed wrapper yet."""
        return await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]

    def _set(self, dimension: int) -> str:
        return f"{self.prefix}:vectors:{dimension}"

    async def _version(self, collection: str) -> int:
        value = await self.redis.get(f"{self.prefix}:kv:{collection}")
        return int(value or 0)

    async def knowledge_changed(self, collection: str) -> int:
        """Call after ingesting into `collection`: answers that used it stop matching."""
        try:
            return int(await self.redis.incr(f"{self.prefix}:kv:{collection}"))
        except RedisError as err:
            raise _down(err) from err

    async def lookup(
        self, question: str, vector: Sequence[float], scope: CacheScope
    ) -> CacheHit | None:
        """The best cached answer to a question this similar, in this scope; None if none.

        Raises `ServiceError` (`cache_down`) when Redis fails: callers skip the cache then.
        """
        try:
            return await self._lookup(vector, scope)
        except RedisError as err:
            raise _down(err) from err

    async def _lookup(self, vector: Sequence[float], scope: CacheScope) -> CacheHit | None:
        attrs = scope.attributes(await self._version(scope.collection))
        expression = " and ".join(f".{k} == {_quote(v)}" for k, v in attrs.items())
        try:
            reply: Any = await self._command(
                "VSIM", self._set(len(vector)), "VALUES", len(vector), *map(float, vector),
                "WITHSCORES", "COUNT", 3, "FILTER", expression,
            )  # fmt: skip
        except ResponseError as err:
            if not ("key" in str(err).lower() and "not" in str(err).lower()):
                raise
            reply = []  # no vector set of this dimension yet
        pairs = (
            list(reply.items())
            if isinstance(reply, dict)
            else list(zip(reply[::2], reply[1::2], strict=False))
        )
        for element, score in pairs:
            similarity = 2 * float(score) - 1  # VSIM scores cosine as (1 + cos) / 2
            if similarity < self.threshold:
                break
            payload: dict[str, str] = await self.redis.hgetall(f"{self.prefix}:entry:{element}")  # type: ignore[assignment]
            if not payload:  # expired: drop the vector too
                await self._command("VREM", self._set(len(vector)), element)
                continue
            await self.redis.hincrby(f"{self.prefix}:stats", "hits", 1)
            return CacheHit(
                question=payload["question"],
                answer=payload["answer"],
                similarity=similarity,
                metadata=json.loads(payload.get("metadata", "{}")),
            )
        await self.redis.hincrby(f"{self.prefix}:stats", "misses", 1)
        return None

    async def store(
        self,
        question: str,
        vector: Sequence[float],
        answer: str,
        scope: CacheScope,
        *,
        metadata: dict[str, Any] | None = None,
        ttl: int | None = None,
        key: str | None = None,
    ) -> None:
        """Cache an answer. With `key` (a run id), storing again under the same key replaces
        the entry: a run that is retried caches its answer once."""
        try:
            await self._store(question, vector, answer, scope, metadata=metadata, ttl=ttl, key=key)
        except RedisError as err:
            raise _down(err) from err

    async def _store(
        self,
        question: str,
        vector: Sequence[float],
        answer: str,
        scope: CacheScope,
        *,
        metadata: dict[str, Any] | None,
        ttl: int | None,
        key: str | None = None,
    ) -> None:
        element = uuid.uuid5(uuid.NAMESPACE_URL, key).hex if key else uuid.uuid4().hex
        attrs = scope.attributes(await self._version(scope.collection))
        entry = f"{self.prefix}:entry:{element}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(entry, mapping={"question": question, "answer": answer,
                                      "metadata": json.dumps(metadata or {})})  # fmt: skip
            pipe.expire(entry, ttl or self.ttl)
            pipe.execute_command(
                "VADD", self._set(len(vector)), "VALUES", len(vector), *map(float, vector),
                element, "SETATTR", json.dumps(attrs),
            )  # fmt: skip
            await pipe.execute()

    async def stats(self) -> CacheStats:
        try:
            counts = await self.redis.hgetall(f"{self.prefix}:stats")
            entries = 0
            async for _ in self.redis.scan_iter(f"{self.prefix}:entry:*", count=500):
                entries += 1
        except RedisError as err:
            raise _down(err) from err
        return CacheStats(int(counts.get("hits", 0)), int(counts.get("misses", 0)), entries)

    async def clear(self) -> None:
        try:
            async for key in self.redis.scan_iter(f"{self.prefix}:*", count=500):
                await self.redis.delete(key)
        except RedisError as err:
            raise _down(err) from err

    async def aclose(self) -> None:
        if self._owns_client:
            await self.redis.aclose()


def knowledge_invalidator(
    target: str | aioredis.Redis, prefix: str = "daert:cache"
) -> Callable[[str], Awaitable[int]]:
    """A callback for the Ingestor: bumps a collection's knowledge version in the cache."""

    async def changed(collection: str) -> int:
        cache = RedisSemanticCache(target, prefix=prefix)
        try:
            return await cache.knowledge_changed(collection)
        finally:
            await cache.aclose()

    return changed
