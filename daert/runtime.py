"""The composition root: one `Runtime` per process owns every client, pool and adapter.

Built from settings, it builds each part on first use and keeps it for the process: a command
that lists threads opens one PostgreSQL pool and never loads an embedder; a server asks for
the assistant once and shares it between requests. Everything opened is closed, in reverse
order, by `aclose()` (or leaving `async with Runtime(settings)`).

    async with Runtime(settings) as runtime:
        assistant = await runtime.assistant()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from core.errors import DaertError, ServiceError
from daert.services.plan import UP_HINT, Endpoints, build_supervisor, endpoints
from daert.settings import ALIASES, Aliases, Settings

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres.aio import AsyncPostgresStore
    from psycopg_pool import AsyncConnectionPool
    from redis.asyncio import Redis

    from agents.embeddings.ports import Embedder
    from agents.gateway import GuidanceRunner, ModelGateway
    from bots.auth.keys import KeyStore
    from bots.auth.ratelimit import RateLimiter
    from graphs.assistant.assistant import Assistant
    from knowledge.graph.ports import GraphStore
    from knowledge.ingest.pipeline import Ingestor
    from knowledge.vector.pgvector import PgVectorStore
    from memory.blobs import PostgresBlobStore
    from memory.checkpoints import Retention, ThreadRegistry
    from memory.longterm import UserMemory
    from memory.semantic_cache.redis import RedisSemanticCache
    from tools.code_exec.ports import CodeSandbox
    from tools.web_search.ports import WebSearch

log = logging.getLogger("daert.runtime")


class Runtime:
    """Every part a command, a server or a worker needs, built lazily and owned once."""

    def __init__(
        self, settings: Settings, *, urls: Endpoints | None = None, aliases: Aliases = ALIASES
    ) -> None:
        self.settings = settings
        self.aliases = aliases
        self._urls = urls
        self._stack = contextlib.AsyncExitStack()
        self._parts: dict[str, Any] = {}
        self._building: dict[str, asyncio.Lock] = {}
        self._embedder: Embedder | None = None

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close everything opened, newest first; the runtime can be used again after."""
        try:
            await self._stack.aclose()
        finally:
            self._stack = contextlib.AsyncExitStack()
            self._parts.clear()

    async def _once[T](self, name: str, build: Callable[[], Awaitable[T]]) -> T:
        """The part called `name`, built by `build` the first time (once, even when asked for
        by several tasks at the same time)."""
        if name in self._parts:
            return self._parts[name]  # type: ignore[no-any-return]
        async with self._building.setdefault(name, asyncio.Lock()):
            if name not in self._parts:
                self._parts[name] = await build()
        return self._parts[name]  # type: ignore[no-any-return]

    # --- where things are ------------------------------------------------------------------

    @property
    def urls(self) -> Endpoints:
        if self._urls is None:
            self._urls = endpoints(self.settings, build_supervisor(self.settings))
        return self._urls

    def _postgres_url(self, why: str) -> str:
        if self.urls.postgres is None:
            raise ServiceError(
                f"PostgreSQL is not running, and {why}", hint=UP_HINT, code="postgres_down"
            )
        return self.urls.postgres

    def _redis_url(self, why: str) -> str:
        if self.urls.redis is None:
            raise ServiceError(f"Redis is not running, and {why}", hint=UP_HINT, code="redis_down")
        return self.urls.redis

    # --- connections ---------------------------------------------------------------------

    async def pool(self) -> AsyncConnectionPool[Any]:
        """The one PostgreSQL pool of this process: checkpoints, long-term memory, threads,
        knowledge, usage."""

        async def build() -> AsyncConnectionPool[Any]:
            from daert.pool import open_pool  # noqa: PLC0415

            url = self._postgres_url("threads, memories and knowledge are kept there")
            return await open_pool(self._stack, self.settings, url)

        return await self._once("pool", build)

    async def redis(self) -> Redis:
        """The one Redis client of this process (text replies)."""

        async def build() -> Redis:
            from memory.semantic_cache.redis import redis_client  # noqa: PLC0415

            client = redis_client(self._redis_url("the cache lives there"))
            self._stack.push_async_callback(client.aclose)
            return client

        return await self._once("redis", build)

    async def stream_redis(self) -> Redis:
        """A Redis client for run event streams: readers block on XREAD for seconds, which
        the cache's client (it fails fast) would cut short."""

        async def build() -> Redis:
            from redis.asyncio import Redis  # noqa: PLC0415

            client = Redis.from_url(
                self._redis_url("run events stream through it"), decode_responses=True,
                socket_connect_timeout=2, socket_timeout=60, health_check_interval=30,
            )  # fmt: skip
            self._stack.push_async_callback(client.aclose)
            return client

        return await self._once("stream_redis", build)

    def postgres_url(self) -> str:
        """Where PostgreSQL is (for clients that open their own connections: the run queue)."""
        return self._postgres_url("runs are queued there")

    def on_close(self, close: Callable[[], Awaitable[object]]) -> None:
        """Close something this runtime's owner opened, with the rest (newest first)."""
        self._stack.push_async_callback(close)

    # --- models --------------------------------------------------------------------------

    def embedder(self) -> Embedder:
        """The embedder; its model loads on the first text embedded, not here."""
        if self._embedder is None:
            from agents.embeddings.known import KnownFirst  # noqa: PLC0415
            from daert.adapters import build_embedder  # noqa: PLC0415

            # A turn's question is embedded once; its vector is handed down (known_vectors).
            self._embedder = KnownFirst(build_embedder(self.settings))
        return self._embedder

    async def gateway(self) -> ModelGateway:
        """Every chat alias behind LiteLLM; each call's usage is recorded in PostgreSQL."""

        async def build() -> ModelGateway:
            from daert.adapters import build_gateway  # noqa: PLC0415

            # Usage is bookkeeping: a PostgreSQL that is down must not stop model calls.
            usage_pool = None
            if self.urls.postgres is not None:
                usage_pool = await self.optional("usage record", self.pool)
            urls = self.urls if usage_pool else dataclasses.replace(self.urls, postgres=None)
            gateway = build_gateway(self.settings, urls, usage_pool=usage_pool)
            if gateway.usage is not None:
                await gateway.usage.setup()
            self._stack.push_async_callback(gateway.aclose)
            return gateway

        return await self._once("gateway", build)

    def guidance(self) -> GuidanceRunner | None:
        if "guidance" not in self._parts:
            from daert.adapters import build_guidance  # noqa: PLC0415

            self._parts["guidance"] = build_guidance(self.settings)
        return self._parts["guidance"]  # type: ignore[no-any-return]

    # --- stores --------------------------------------------------------------------------

    async def vector_store(self) -> PgVectorStore:
        async def build() -> PgVectorStore:
            from knowledge.vector.pgvector import PgVectorStore  # noqa: PLC0415

            store = PgVectorStore(await self.pool())
            await store.setup()
            return store

        return await self._once("vector_store", build)

    async def graph_store(self) -> GraphStore:
        async def build() -> GraphStore:
            from daert.adapters import build_graph_store  # noqa: PLC0415

            store = build_graph_store(self.settings, self.urls)
            await store.setup()
            self._stack.push_async_callback(store.aclose)
            return store

        return await self._once("graph_store", build)

    async def threads(self) -> ThreadRegistry:
        async def build() -> ThreadRegistry:
            from memory.checkpoints import ThreadRegistry  # noqa: PLC0415

            registry = ThreadRegistry(await self.pool())
            await registry.setup()
            return registry

        return await self._once("threads", build)

    async def keys(self) -> KeyStore:
        """API keys: who may call the HTTP API, as which user."""

        async def build() -> KeyStore:
            from bots.auth.keys import KeyStore  # noqa: PLC0415

            store = KeyStore(await self.pool())
            await store.setup()
            return store

        return await self._once("keys", build)

    async def rate_limiter(self) -> RateLimiter | None:
        """The per-key request limit, shared through Redis; None when
        DAERT_RATE_LIMIT_PER_MINUTE is 0."""
        if self.settings.rate_limit_per_minute <= 0:
            return None

        async def build() -> RateLimiter:
            from bots.auth.ratelimit import RateLimiter  # noqa: PLC0415

            return RateLimiter(await self.redis(), self.settings.rate_limit_per_minute)

        return await self._once("rate_limiter", build)

    async def checkpointer(self) -> AsyncPostgresSaver:
        async def build() -> AsyncPostgresSaver:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # noqa: PLC0415

            saver = AsyncPostgresSaver(await self.pool())
            await saver.setup()
            return saver

        return await self._once("checkpointer", build)

    async def long_term_store(self) -> AsyncPostgresStore:
        """LangGraph's store with vector search; texts are embedded only when written or
        searched with a query, so listing memories loads no model."""

        async def build() -> AsyncPostgresStore:
            from langgraph.store.postgres.aio import AsyncPostgresStore  # noqa: PLC0415

            embedder = self.embedder()
            store = AsyncPostgresStore(
                await self.pool(),
                index={"dims": embedder.dimension, "embed": embedder.embed, "fields": ["text"]},
            )
            await store.setup()
            return store

        return await self._once("long_term_store", build)

    async def memory(self) -> UserMemory:
        """Facts users state about themselves (refused when DAERT_MEMORY_ENABLED is off)."""
        from core.errors import InputError  # noqa: PLC0415
        from memory.longterm import UserMemory  # noqa: PLC0415

        if not self.settings.memory_enabled:
            raise InputError(
                "long-term memory is switched off",
                hint="set DAERT_MEMORY_ENABLED=true",
                code="memory_disabled",
            )

        async def build() -> UserMemory:
            store = await self.long_term_store()
            return UserMemory(store, min_score=self.settings.memory_min_score)

        return await self._once("memory", build)

    async def cache(self) -> RedisSemanticCache:
        """The semantic cache of answers, on the shared Redis client."""

        async def build() -> RedisSemanticCache:
            from memory.semantic_cache.redis import RedisSemanticCache  # noqa: PLC0415

            settings = self.settings
            return RedisSemanticCache(
                await self.redis(), threshold=settings.cache_threshold, ttl=settings.cache_ttl
            )

        return await self._once("cache", build)

    async def blobs(self) -> PostgresBlobStore:
        """Rich outputs of runs (sandbox images), stored once and referenced."""

        async def build() -> PostgresBlobStore:
            from memory.blobs import PostgresBlobStore  # noqa: PLC0415

            store = PostgresBlobStore(await self.pool())
            await store.setup()
            return store

        return await self._once("blobs", build)

    async def retention(self) -> Retention:
        async def build() -> Retention:
            from memory.checkpoints import Retention  # noqa: PLC0415

            return Retention(
                await self.checkpointer(), await self.threads(),
                keep_days=self.settings.thread_keep_days,
                compact_after=self.settings.thread_compact_after,
            )  # fmt: skip

        return await self._once("retention", build)

    async def ingestor(self, collection: str | None = None) -> Ingestor:
        """An ingestor into `collection` (default DAERT_COLLECTION); answers cached from that
        collection stop matching when it changes (when Redis runs)."""
        from daert.adapters import build_ingestor  # noqa: PLC0415

        redis = await self.redis() if self.urls.redis is not None else None
        return build_ingestor(
            self.settings, await self.vector_store(), self.embedder(), collection, redis=redis
        )

    # --- tools ---------------------------------------------------------------------------

    async def web_search(self) -> WebSearch:
        async def build() -> WebSearch:
            from daert.adapters import build_web_search  # noqa: PLC0415

            return await build_web_search(self.settings, self.embedder(), store=self.vector_store)

        return await self._once("web_search", build)

    async def sandbox(self) -> CodeSandbox:
        async def build() -> CodeSandbox:
            from daert.adapters import build_sandbox  # noqa: PLC0415

            sandbox = build_sandbox(self.settings)
            self._stack.push_async_callback(sandbox.aclose)
            return sandbox

        return await self._once("sandbox", build)

    async def optional[T](self, name: str, build: Callable[[], Awaitable[T]]) -> T | None:
        """A part that may be missing here (a graph that is down, no bubblewrap): None, with
        the reason logged, so the rest still works."""
        try:
            return await build()
        except DaertError as err:
            log.warning("the %s is unavailable: %s (%s)", name, err.message, err.hint)
            return None

    # --- the assistant -------------------------------------------------------------------

    async def assistant(self) -> Assistant:
        """The assistant graph with every tool DAERT_ASSISTANT_TOOLS asks for that works here."""

        async def build() -> Assistant:
            from daert.assembly import build_assistant  # noqa: PLC0415

            return await build_assistant(self)

        return await self._once("assistant", build)
