"""How the assistant is put together from the runtime's parts: tools, router, planner, graph.

Only `Runtime.assistant()` calls this; the parts themselves (stores, gateway, cache, memory)
come from the runtime, which chose their adapters and owns them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.gateway import ModelGateway
    from daert.runtime import Runtime
    from graphs.assistant.assistant import Assistant
    from graphs.assistant.state import Source
    from graphs.assistant.tools import CrewRunner, Toolbox

log = logging.getLogger("daert.assembly")


def _crew_runner(
    gateway: ModelGateway, alias: str, storage: Path, timeout: float, **ports: Any
) -> CrewRunner | None:
    """The crew as a tool, when the `crew` extra is installed (else the tool is left out)."""
    if importlib.util.find_spec("crewai") is None:
        log.warning("the crew tool is unavailable: install the `crew` extra")
        return None
    from agents.crew.research import run_research_crew  # noqa: PLC0415

    async def run(task: str) -> tuple[str, list[Source]]:
        result = await run_research_crew(
            task, gateway=gateway, alias=alias, storage_dir=storage, timeout=timeout, **ports
        )
        sources: list[Source] = [
            {"kind": "web" if s.kind == "web" else "chunk", "ref": s.ref,
             "title": s.title or s.ref, "text": s.title or s.ref, "score": 1.0}
            for s in result.sources
        ]  # fmt: skip
        return result.text, sources

    return run


async def _open_tools(runtime: Runtime) -> Toolbox:
    """The tools DAERT_ASSISTANT_TOOLS asks for, built side by side; a knowledge graph that is
    down, or a sandbox this machine cannot run, is left out."""
    from graphs.assistant.tools import Toolbox  # noqa: PLC0415

    settings, aliases = runtime.settings, runtime.aliases
    wanted = set(settings.assistant_tools)
    gateway = await runtime.gateway()

    async def nothing() -> None:
        return None

    store, graph, web, sandbox = await asyncio.gather(
        runtime.vector_store() if wanted & {"retrieve", "crew"} else nothing(),
        runtime.optional("kg tool", runtime.graph_store) if "kg" in wanted else nothing(),
        runtime.web_search() if "web" in wanted else nothing(),
        runtime.optional("code tool", runtime.sandbox) if "code" in wanted else nothing(),
    )
    crew = None
    if "crew" in wanted:
        # A crew is the long-task tool: it may use the turn's whole time budget.
        crew = _crew_runner(gateway, aliases.crew, settings.data_dir / "crewai",
                            settings.time_budget, embedder=runtime.embedder(), store=store,
                            collection=settings.collection, web=web)  # fmt: skip
    return Toolbox(
        embedder=runtime.embedder(), store=store if "retrieve" in wanted else None,
        collection=settings.collection, graph=graph, web=web, sandbox=sandbox,
        crew=crew, gateway=gateway, coder_alias=aliases.code,
        guidance_runner=runtime.guidance(), blobs=await runtime.blobs(),
        cypher_alias=aliases.cypher if settings.planner_capable else None,
        k=settings.retrieve_k, min_relevance=settings.min_relevance,
        timeout=settings.tool_timeout, crew_timeout=settings.time_budget,
    )  # fmt: skip


async def build_assistant(runtime: Runtime) -> Assistant:
    """The compiled graph over the runtime's parts, behind the `Assistant` every surface uses."""
    from agents.router.embedding import EmbeddingRouter, load_exemplars  # noqa: PLC0415
    from agents.router.planner import Planner  # noqa: PLC0415
    from graphs.assistant.assistant import Assistant  # noqa: PLC0415
    from graphs.assistant.graph import build_graph  # noqa: PLC0415
    from graphs.assistant.nodes import AssistantConfig, Nodes  # noqa: PLC0415

    settings, aliases = runtime.settings, runtime.aliases
    saver = await runtime.checkpointer()
    threads = await runtime.threads()
    gateway = await runtime.gateway()
    store = await runtime.long_term_store() if settings.memory_enabled else None
    memory = await runtime.memory() if settings.memory_enabled else None
    cache = None
    if settings.cache_enabled and runtime.urls.redis is not None:
        cache = await runtime.cache()
    toolbox = await _open_tools(runtime)
    router = EmbeddingRouter(
        runtime.embedder(),
        load_exemplars(settings.router_exemplars),
        threshold=settings.router_threshold,
        margin=settings.router_margin,
        fallback=settings.router_fallback,
        enabled=[*toolbox.available, "chat"],
    )
    await router.setup(cache_dir=settings.data_dir / "cache")
    planner = None
    if settings.planner_capable:
        planner = Planner(gateway, aliases.planner, max_steps=settings.plan_max_calls,
                          tools=toolbox.available, guidance_runner=runtime.guidance())  # fmt: skip
    config = AssistantConfig(
        chat_alias=aliases.answer,
        summarizer_alias=aliases.summarizer,
        system_prompt=settings.system_prompt,
        max_steps=settings.max_steps,
        time_budget=settings.time_budget,
        history_tokens=settings.history_tokens,
        answer_max_tokens=settings.answer_max_tokens,
        tenant=settings.tenant,
        cache_ttl=settings.cache_ttl,
    )
    nodes = Nodes(gateway, router, toolbox, config, planner=planner, cache=cache, memory=memory)
    graph = build_graph(nodes, checkpointer=saver, store=store)
    return Assistant(graph, registry=threads, max_steps=settings.max_steps)
