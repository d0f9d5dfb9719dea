"""The crew's tools over our ports: knowledge search and web search, with numbered sources.

Each search returns text the model can read and cite (`[n]` per source) and records what it
returned in a `SourceCollector`, so the run can hand back exactly the sources it saw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agents.crew.errors import CrewError
from core.errors import DaertError
from knowledge.vector.ports import SearchOptions

if TYPE_CHECKING:
    from agents.crew.llm import LoopBridge
    from agents.embeddings.ports import Embedder
    from knowledge.vector.ports import VectorStore
    from tools.web_search.ports import WebSearch

log = logging.getLogger(__name__)

MAX_PASSAGE_CHARS = 1500  # per result: five results stay well under a small context window


@dataclass(frozen=True)
class Source:
    """Where a piece of the answer came from: a stored chunk's document or a web page."""

    kind: Literal["chunk", "web"]
    ref: str  # the document's source path, or the page's URL
    title: str | None = None


class SourceCollector:
    """Numbers each source once, in the order the tools first returned it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[tuple[str, str], int] = {}
        self._sources: list[Source] = []

    def add(self, source: Source) -> int:
        with self._lock:
            key = (source.kind, source.ref)
            if key not in self._numbers:
                self._sources.append(source)
                self._numbers[key] = len(self._sources)
            return self._numbers[key]

    @property
    def sources(self) -> list[Source]:
        """Every source so far; `sources[n - 1]` is the one cited as `[n]`."""
        with self._lock:
            return list(self._sources)


def _passage(number: int, title: str | None, ref: str, text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_PASSAGE_CHARS:
        text = text[:MAX_PASSAGE_CHARS].rstrip() + " ..."
    return f"[{number}] {title or ref}\nsource: {ref}\n{text}"


async def search_knowledge(
    query: str,
    *,
    embedder: Embedder,
    store: VectorStore,
    collection: str,
    collector: SourceCollector,
    k: int = 5,
) -> str:
    """The passages of `collection` that best match `query`, numbered for citation."""
    if not query.strip():
        return "The query was empty; search again with the words to look for."
    [vector] = await embedder.embed([query])
    hits = await store.search(collection, query, vector, SearchOptions(k=k))
    if not hits:
        return f"The knowledge base has no passage matching {query!r}."
    return "\n\n".join(
        _passage(collector.add(Source("chunk", hit.source, hit.title)), hit.title, hit.source,
                 hit.content)
        for hit in hits
    )  # fmt: skip


async def search_web(query: str, *, web: WebSearch, collector: SourceCollector, k: int = 5) -> str:
    """The web pages that best match `query`, numbered for citation."""
    if not query.strip():
        return "The query was empty; search again with the words to look for."
    results = await web.search(query, k=k)
    if not results:
        return f"The web search found nothing for {query!r}."
    return "\n\n".join(
        _passage(collector.add(Source("web", r.url, r.title)), r.title, r.url,
                 r.content or r.snippet)
        for r in results
    )  # fmt: skip


def crew_tools(
    bridge: LoopBridge,
    collector: SourceCollector,
    *,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    collection: str = "default",
    web: WebSearch | None = None,
) -> list[Any]:
    """CrewAI tools for the ports that were given (crewai must be loaded)."""
    from crewai.tools import tool  # noqa: PLC0415 - loaded by load_crewai before this

    def guarded(name: str, search: Callable[[], Any]) -> str:
        try:
            return str(bridge.run(search))
        except DaertError as err:
            if isinstance(err, CrewError):  # the run is over: stop the crew too
                raise
            log.warning("crew tool %s failed: %s", name, err)
            return f"{name} failed ({err.code}): {err.message}. Use what you have found so far."

    tools: list[Any] = []
    if embedder is not None and store is not None:
        knowledge_store, knowledge_embedder = store, embedder

        @tool("search_knowledge")
        def knowledge(query: str) -> str:
            """Search the user's own knowledge base (documents they ingested) for passages
            about `query`. Each result starts with its number [n]; cite facts with it."""
            return guarded("search_knowledge", lambda: search_knowledge(
                query, embedder=knowledge_embedder, store=knowledge_store,
                collection=collection, collector=collector))  # fmt: skip

        tools.append(knowledge)
    if web is not None:
        web_search = web

        @tool("search_web")
        def on_the_web(query: str) -> str:
            """Search the web for pages about `query`. Each result starts with its number
            [n]; cite facts with it."""
            return guarded("search_web", lambda: search_web(query, web=web_search,
                                                            collector=collector))  # fmt: skip

        tools.append(on_the_web)
    return tools
