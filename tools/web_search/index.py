"""Web search over the private index: pages `daert crawl` stored, searched with hybrid search."""

from __future__ import annotations

from agents.embeddings.ports import Embedder
from core.errors import InputError
from knowledge.vector.ports import SearchOptions, VectorStore
from tools.web_search.ports import WebResult, dedupe


class IndexSearch:
    name = "index"

    def __init__(self, store: VectorStore, embedder: Embedder, collection: str = "web") -> None:
        self.store = store
        self.embedder = embedder
        self.collection = collection

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]:
        if not query.strip():
            raise InputError("empty search query", code="web_query_empty")
        [vector] = await self.embedder.embed([query])
        try:
            hits = await self.store.search(self.collection, query, vector, SearchOptions(k=k * 3))
        except InputError as err:
            if err.code != "collection_not_found":
                raise
            return []  # nothing crawled yet
        results = [
            WebResult(
                title=h.title or h.source,
                url=h.source,
                snippet=h.content[:300],
                content=h.content,
                score=h.score,
                provider=self.name,
            )
            for h in hits
        ]
        return dedupe(results)[:k]
