"""Adapter choice: from settings, which model, embedder, stores, search and sandbox to build.

The only place that picks between adapters; `daert.runtime.Runtime` calls these once and owns
what they return. Heavy libraries are imported inside each factory, never at import.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from daert.services.datadir import ensure_data_dir
from daert.services.llama import EmbeddedModel
from daert.services.plan import UP_HINT, Endpoints
from daert.settings import Settings

if TYPE_CHECKING:  # the gateway pulls in LiteLLM: imported only where it is built
    from psycopg_pool import AsyncConnectionPool
    from redis.asyncio import Redis

    from agents.embeddings.ports import Embedder
    from agents.gateway import GuidanceRunner, ModelGateway
    from knowledge.graph.ports import GraphStore
    from knowledge.ingest.pipeline import Ingestor
    from knowledge.vector.pgvector import PgVectorStore
    from knowledge.vector.ports import VectorStore
    from tools.code_exec.ports import CodeSandbox, SandboxLimits
    from tools.web_search.ports import WebSearch


def local_gguf(settings: Settings) -> Path | None:
    """The GGUF the embedded model serves, for in-process guidance."""
    if not settings.wants_local_model:
        return None
    ensure_data_dir(settings.data_dir)  # the packaged model is assembled into it on first use
    return EmbeddedModel(settings.data_dir, model_path=settings.local_model_path).gguf()


def build_gateway(
    settings: Settings, urls: Endpoints, *, usage_pool: AsyncConnectionPool[Any] | None = None
) -> ModelGateway:
    """The model gateway over every chat alias; usage is recorded in PostgreSQL when it runs
    (through `usage_pool` when given, else a connection per record)."""
    from agents.gateway import ModelGateway, resolve  # noqa: PLC0415
    from agents.gateway.usage import PostgresUsageStore  # noqa: PLC0415
    from daert.reach import with_connect_timeout  # noqa: PLC0415

    aliases = resolve(
        settings.chat_models(),
        local_url=urls.model if settings.model_url is None else None,
        default_timeout=settings.model_timeout,
        env=os.environ,
    )
    usage = None
    if usage_pool is not None:
        usage = PostgresUsageStore(usage_pool)
    elif urls.postgres:
        usage = PostgresUsageStore(with_connect_timeout(urls.postgres))
    return ModelGateway(
        aliases,
        usage=usage,
        retries=settings.model_retries,
        cooldown=settings.model_cooldown,
        allowed_fails=settings.model_allowed_fails,
    )


def build_guidance(settings: Settings) -> GuidanceRunner | None:
    if settings.structured_local != "guidance":
        return None
    from agents.gateway import GuidanceRunner  # noqa: PLC0415

    gguf = local_gguf(settings)
    return GuidanceRunner(gguf, settings.local_model_context) if gguf else None


def build_embedder(settings: Settings) -> Embedder:
    from agents.embeddings.local import MODEL_NAME, LocalMiniLM  # noqa: PLC0415

    if settings.embedder == MODEL_NAME:
        return LocalMiniLM()
    from agents.embeddings.hosted import LiteLLMEmbedder  # noqa: PLC0415
    from core.errors import ConfigError  # noqa: PLC0415

    if settings.embedder_dimension is None:
        raise ConfigError(
            f"DAERT_EMBEDDER={settings.embedder} needs its vector size",
            hint="set DAERT_EMBEDDER_DIMENSION (e.g. 1536 for openai/text-embedding-3-small)",
        )
    return LiteLLMEmbedder(settings.embedder, settings.embedder_dimension)


def build_vector_store(urls: Endpoints) -> PgVectorStore:
    from core.errors import ServiceError  # noqa: PLC0415
    from daert.reach import with_connect_timeout  # noqa: PLC0415
    from knowledge.vector.pgvector import PgVectorStore  # noqa: PLC0415

    if urls.postgres is None:
        raise ServiceError(
            "PostgreSQL is not running, and the knowledge base lives there",
            hint=UP_HINT,
            code="postgres_down",
        )
    return PgVectorStore(with_connect_timeout(urls.postgres))


def build_ingestor(
    settings: Settings,
    store: PgVectorStore,
    embedder: Embedder,
    collection: str | None = None,
    *,
    redis: str | Redis | None = None,
) -> Ingestor:
    from knowledge.ingest.chunking import (  # noqa: PLC0415
        ChunkSpec,
        embedder_token_counter,
        estimate_tokens,
    )
    from knowledge.ingest.pipeline import Ingestor  # noqa: PLC0415

    local = settings.embedder.startswith("local/")
    on_change = None
    if redis is not None:  # answers cached from this collection must not outlive it
        from memory.semantic_cache.redis import knowledge_invalidator  # noqa: PLC0415

        on_change = knowledge_invalidator(redis)
    return Ingestor(
        store,
        embedder,
        collection or settings.collection,
        spec=ChunkSpec(
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap,
            post_max_tokens=settings.chunk_tokens,
        ),
        count_tokens=embedder_token_counter() if local else estimate_tokens,
        max_bytes=settings.ingest_max_bytes,
        on_change=on_change,
    )


def build_graph_store(settings: Settings, urls: Endpoints) -> GraphStore:
    """FalkorDB in the (embedded) Redis by default; Neo4j when DAERT_GRAPH_BACKEND=neo4j."""
    from core.errors import ServiceError  # noqa: PLC0415

    if settings.graph_backend == "neo4j":
        from knowledge.graph.neo4j import Neo4jGraphStore  # noqa: PLC0415

        assert settings.neo4j_url and settings.neo4j_password  # noqa: S101 - settings validated
        return Neo4jGraphStore(
            settings.neo4j_url, settings.neo4j_user, settings.neo4j_password.get_secret_value()
        )
    from knowledge.graph.falkordb import FalkorGraphStore  # noqa: PLC0415

    if urls.falkordb is None:
        raise ServiceError(
            "FalkorDB is not running, and the knowledge graph lives there",
            hint=UP_HINT,
            code="falkordb_down",
        )
    return FalkorGraphStore(urls.falkordb, graph=settings.graph_name)


async def build_web_search(
    settings: Settings, embedder: Embedder, *, store: Callable[[], Awaitable[VectorStore]]
) -> WebSearch:
    """Tavily when a key is configured, else SearXNG when its URL is, else DuckDuckGo when
    DAERT_WEB_SEARCH allows it (`auto`: when this machine is online), else the private index,
    searched through the store `store()` gives (the runtime's, shared with retrieval)."""
    key = settings.tavily_api_key.get_secret_value() if settings.tavily_api_key else None
    key = key or os.environ.get("TAVILY_API_KEY")
    if key:
        from tools.web_search.tavily import TavilySearch  # noqa: PLC0415

        base = str(settings.tavily_url).rstrip("/") if settings.tavily_url else None
        return TavilySearch(key, base_url=base)
    if settings.searxng_url is not None:
        from tools.web_search.searxng import SearxngSearch  # noqa: PLC0415

        return SearxngSearch(str(settings.searxng_url))
    proxy = os.environ.get("DDGS_PROXY")
    if settings.web_search == "duckduckgo" or (
        settings.web_search == "auto"
        and await asyncio.to_thread(online, proxy or "https://html.duckduckgo.com")
    ):
        from tools.web_search.ddgs import DuckDuckGoSearch  # noqa: PLC0415

        return DuckDuckGoSearch(proxy=proxy)
    from tools.web_search.index import IndexSearch  # noqa: PLC0415

    return IndexSearch(await store(), embedder, settings.web_collection)


def online(url: str, timeout: float = 1.5) -> bool:
    """Whether a TCP connection to the URL's host opens within `timeout`, lookup included.

    The probe runs in a thread because a name lookup ignores socket timeouts; it reports as
    soon as it knows, so a refused connection or a failed lookup answers at once."""
    parts = urlsplit(url)
    address = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    done = threading.Event()
    opened: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(address, timeout=timeout):
                opened.append(True)
        except (OSError, UnicodeError):
            pass  # refused, unreachable, an unknown or malformed name, or timed out
        finally:
            done.set()

    threading.Thread(target=probe, daemon=True).start()
    return done.wait(timeout) and bool(opened)


def build_sandbox(settings: Settings, limits: SandboxLimits | None = None) -> CodeSandbox:
    """E2B when a key is configured, else bubblewrap on this machine (refused, with the fix,
    when this machine lacks bubblewrap or the `sandbox` extra)."""
    from tools.code_exec.ports import SandboxLimits  # noqa: PLC0415

    limits = dataclasses.replace(limits or SandboxLimits(), max_timeout=settings.code_max_timeout)
    key = settings.e2b_api_key.get_secret_value() if settings.e2b_api_key else None
    key = key or os.environ.get("E2B_API_KEY")
    if key:
        from tools.code_exec.e2b import E2BSandbox  # noqa: PLC0415

        return E2BSandbox(key, limits=limits)
    from tools.code_exec.bubblewrap import LocalSandbox, check_available  # noqa: PLC0415

    check_available()
    return LocalSandbox(limits)
