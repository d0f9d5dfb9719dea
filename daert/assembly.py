"""The composition root of the assistant: builds every adapter it uses, opens, and closes them.

`open_assistant(settings)` is the one place that decides which model, stores, tools and cache
the graph gets; everything in graphs/ receives them ready-made.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DaertError, ServiceError
from daert.reach import CONNECT_TIMEOUT, check_postgres, postgres_unreachable, with_connect_timeout
from daert.runtime import (
    UP_HINT,
    Endpoints,
    build_embedder,
    build_gateway,
    build_graph_store,
    build_guidance,
    build_sandbox,
    build_supervisor,
    build_vector_store,
    build_web_search,
    endpoints,
)
from daert.settings import Settings

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool

    from agents.embeddings.ports import Embedder
    from agents.gateway import GuidanceRunner, ModelGateway
    from agents.router.embedding import EmbeddingRouter
    from graphs.assistant.assistant import Assistant
    from graphs.assistant.nodes import Nodes
    from graphs.assistant.state import Source
    from graphs.assistant.tools import CrewRunner, Toolbox
    from memory.checkpoints import Retention
    from memory.longterm import UserMemory
    from memory.semantic_cache.redis import RedisSemanticCache

log = logging.getLogger("daert.assembly")


@dataclass
class AssistantRuntime:
    """The assistant and the parts callers manage directly (memories, retention, cache)."""

    assistant: Assistant
    gateway: ModelGateway
    embedder: Embedder
    memory: UserMemory | None
    retention: Retention
    cache: RedisSemanticCache | None
    saver: AsyncPostgresSaver


def _crew_runner(
    gateway: ModelGateway, storage: Path, timeout: float, **ports: Any
) -> CrewRunner | None:
    """The crew as a tool, when the `crew` extra is installed (else the tool is left out)."""
    if importlib.util.find_spec("crewai") is None:
        log.warning("the crew tool is unavailable: install the `crew` extra")
        return None
    from agents.crew.research import run_research_crew  # noqa: PLC0415

    async def run(task: str) -> tuple[str, list[Source]]:
        result = await run_research_crew(
            task, gateway=gateway, alias="chat", storage_dir=storage, timeout=timeout, **ports
        )
        sources: list[Source] = [
            {"kind": "web" if s.kind == "web" else "chunk", "ref": s.ref,
             "title": s.title or s.ref, "text": s.title or s.ref, "score": 1.0}
            for s in result.sources
        ]  # fmt: skip
        return result.text, sources

    return run


async def _open_tools(
    stack: contextlib.AsyncExitStack, settings: Settings, urls: Endpoints, *,
    embedder: Embedder, gateway: ModelGateway, guidance: GuidanceRunner | None,
) -> Toolbox:  # fmt: skip
    """The tools DAERT_ASSISTANT_TOOLS asks for; a knowledge graph that is down, or a sandbox
    this machine cannot run, is left out."""
    from graphs.assistant.tools import Toolbox  # noqa: PLC0415
    from tools.web_search.index import IndexSearch  # noqa: PLC0415

    wanted = set(settings.assistant_tools)
    # One store, opened once, for every tool that searches the knowledge base: the private
    # web index (DAERT_WEB_SEARCH=index, or `auto` offline) is one of its collections.
    vectors = build_vector_store(urls) if wanted & {"retrieve", "crew", "web"} else None
    web = build_web_search(settings, urls, embedder, store=vectors) if "web" in wanted else None
    web_uses_store = isinstance(web, IndexSearch) and web.store is vectors
    if vectors is not None and (wanted & {"retrieve", "crew"} or web_uses_store):
        await vectors.setup()
        stack.push_async_callback(vectors.aclose)
    else:
        vectors = None  # the web tool searches elsewhere and nothing else needs the store
    graph_store = None
    if "kg" in wanted:
        try:
            graph_store = build_graph_store(settings, urls)
            await graph_store.setup()
            stack.push_async_callback(graph_store.aclose)
        except DaertError as err:  # the other tools still work without the graph
            log.warning("the kg tool is unavailable: %s", err.message)
            graph_store = None
    sandbox = None
    if "code" in wanted:
        try:
            sandbox = build_sandbox(settings)
            stack.push_async_callback(sandbox.aclose)
        except DaertError as err:  # no bubblewrap here: the other tools still work
            log.warning("the code tool is unavailable: %s (%s)", err.message, err.hint)
    crew = None
    if "crew" in wanted:
        # A crew is the long-task tool: it may use the turn's whole time budget.
        crew = _crew_runner(gateway, settings.data_dir / "crewai", settings.time_budget,
                            embedder=embedder, store=vectors,
                            collection=settings.collection, web=web)  # fmt: skip
    return Toolbox(
        embedder=embedder, store=vectors if "retrieve" in wanted else None,
        collection=settings.collection, graph=graph_store, web=web, sandbox=sandbox,
        crew=crew, gateway=gateway, coder_alias="chat", guidance_runner=guidance,
        cypher_alias="planner" if settings.planner_capable else None,
        k=settings.retrieve_k, min_relevance=settings.min_relevance,
        timeout=settings.tool_timeout, crew_timeout=settings.time_budget,
    )  # fmt: skip


async def _open_pools(
    stack: contextlib.AsyncExitStack, settings: Settings, url: str
) -> tuple[AsyncConnectionPool[Any], AsyncConnectionPool[Any]]:
    """One pool in LangGraph's shape (dict rows, autocommit), one for our own tables."""
    from psycopg.rows import dict_row  # noqa: PLC0415
    from psycopg_pool import AsyncConnectionPool, PoolTimeout  # noqa: PLC0415

    conninfo = with_connect_timeout(url)
    # A connection that PostgreSQL dropped (a restart) is replaced before use, not failed on;
    # while PostgreSQL is down, a turn waits `timeout` for a connection, then fails clearly.
    common: dict[str, Any] = {
        "open": False, "check": AsyncConnectionPool.check_connection,
        "timeout": 4 * CONNECT_TIMEOUT,
    }  # fmt: skip
    graph_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=1, max_size=8, **common,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )  # fmt: skip
    own_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=1, max_size=4, **common
    )
    for pool in (graph_pool, own_pool):
        stack.push_async_callback(pool.close)
        try:
            await pool.open(wait=True, timeout=4 * CONNECT_TIMEOUT)
        except PoolTimeout as error:
            raise postgres_unreachable(settings, url, error) from None
    return graph_pool, own_pool


def _nodes(
    settings: Settings, gateway: ModelGateway, router: EmbeddingRouter, toolbox: Toolbox, *,
    guidance: GuidanceRunner | None, cache: RedisSemanticCache | None,
    memory: UserMemory | None,
) -> Nodes:  # fmt: skip
    from agents.router.planner import Planner  # noqa: PLC0415
    from graphs.assistant.nodes import AssistantConfig, Nodes  # noqa: PLC0415

    planner = None
    if settings.planner_capable:
        planner = Planner(gateway, "planner", max_steps=3, tools=toolbox.available,
                          guidance_runner=guidance)  # fmt: skip
    config = AssistantConfig(
        chat_alias="chat",
        summarizer_alias="summarizer",
        system_prompt=settings.system_prompt,
        max_steps=settings.max_steps,
        time_budget=settings.time_budget,
        history_tokens=settings.history_tokens,
        answer_max_tokens=settings.answer_max_tokens,
        cache_ttl=settings.cache_ttl,
    )
    return Nodes(gateway, router, toolbox, config, planner=planner, cache=cache, memory=memory)


@contextlib.asynccontextmanager
async def open_assistant(
    settings: Settings, urls: Endpoints | None = None
) -> AsyncIterator[AssistantRuntime]:
    """Build, open and (on exit) close the assistant and everything it uses."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # noqa: PLC0415
    from langgraph.store.postgres.aio import AsyncPostgresStore  # noqa: PLC0415

    from agents.embeddings.cached import CachedEmbedder  # noqa: PLC0415
    from agents.router.embedding import EmbeddingRouter, load_exemplars  # noqa: PLC0415
    from graphs.assistant.assistant import Assistant  # noqa: PLC0415
    from graphs.assistant.graph import build_graph  # noqa: PLC0415
    from memory.checkpoints import Retention, ThreadRegistry  # noqa: PLC0415
    from memory.longterm import UserMemory  # noqa: PLC0415
    from memory.semantic_cache.redis import RedisSemanticCache  # noqa: PLC0415

    urls = urls or endpoints(settings, build_supervisor(settings))
    if urls.postgres is None:
        raise ServiceError(
            "PostgreSQL is not running, and threads are kept there",
            hint=UP_HINT,
            code="postgres_down",
        )
    await check_postgres(settings, urls.postgres)  # down: said in seconds, not after 90 s
    gateway = build_gateway(settings, urls)
    embedder = CachedEmbedder(build_embedder(settings))
    guidance = build_guidance(settings)
    async with contextlib.AsyncExitStack() as stack:
        graph_pool, own_pool = await _open_pools(stack, settings, urls.postgres)
        saver = AsyncPostgresSaver(graph_pool)
        await saver.setup()
        registry = ThreadRegistry(own_pool)
        await registry.setup()
        if gateway.usage is not None:
            await gateway.usage.setup()
        stack.push_async_callback(gateway.aclose)
        memory = store = None
        if settings.memory_enabled:
            store = AsyncPostgresStore(
                graph_pool,
                index={"dims": embedder.dimension, "embed": embedder.embed, "fields": ["text"]},
            )
            await store.setup()
            memory = UserMemory(store, min_score=settings.memory_min_score)
        toolbox = await _open_tools(
            stack, settings, urls, embedder=embedder, gateway=gateway, guidance=guidance
        )
        cache = None
        if settings.cache_enabled and urls.redis is not None:
            cache = RedisSemanticCache(
                urls.redis, threshold=settings.cache_threshold, ttl=settings.cache_ttl
            )
            stack.push_async_callback(cache.aclose)
        router = EmbeddingRouter(
            embedder,
            load_exemplars(settings.router_exemplars),
            threshold=settings.router_threshold,
            margin=settings.router_margin,
            fallback=settings.router_fallback,
            enabled=[*toolbox.available, "chat"],
        )
        await router.setup()
        nodes = _nodes(
            settings, gateway, router, toolbox, guidance=guidance, cache=cache, memory=memory
        )
        graph = build_graph(nodes, checkpointer=saver, store=store)
        assistant = Assistant(graph, registry=registry, max_steps=settings.max_steps)
        retention = Retention(
            saver, registry, keep_days=settings.thread_keep_days,
            compact_after=settings.thread_compact_after,
        )  # fmt: skip
        yield AssistantRuntime(assistant, gateway, embedder, memory, retention, cache, saver)
