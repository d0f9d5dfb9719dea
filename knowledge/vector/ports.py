"""The VectorStore port and the records that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, ready to store: its text, vector and metadata."""

    ordinal: int
    content: str
    embedding: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentRecord:
    """A source and the fingerprint of what was ingested from it."""

    source: str
    content_hash: str
    title: str | None = None
    doc_type: str = "text"
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A search result: the chunk, where it came from, and why it ranked."""

    chunk_id: int
    source: str
    title: str | None
    content: str
    metadata: Mapping[str, Any]
    score: float
    vector_rank: int | None = None
    text_rank: int | None = None
    similarity: float | None = None  # cosine similarity of query and chunk, when known


@dataclass(frozen=True)
class SearchOptions:
    """Query-time knobs: how many, which, and how to rank."""

    k: int = 5
    filters: Mapping[str, Any] = field(default_factory=dict)
    hybrid: float = 0.5  # weight of the vector ranking in the fusion; 1.0 = vector only
    mmr: float | None = None  # lambda in [0, 1] for diversity; None = plain ranking
    candidates: int = 50  # per ranking, before fusion / MMR
    ef_search: int | None = None


class VectorStore(Protocol):
    """Collections of documents split into embedded chunks."""

    async def setup(self) -> None: ...

    async def ensure_collection(self, name: str, embedder: str, dimension: int) -> None: ...

    async def document_hash(self, collection: str, source: str) -> str | None: ...

    async def replace_document(
        self, collection: str, document: DocumentRecord, chunks: Sequence[Chunk]
    ) -> int: ...

    async def delete_document(self, collection: str, source: str) -> bool: ...

    async def search(
        self,
        collection: str,
        query: str,
        embedding: Sequence[float],
        options: SearchOptions,
    ) -> list[Hit]: ...

    async def chunks_after(
        self, collection: str, after: int = 0, limit: int = 100
    ) -> list[tuple[int, str, str]]: ...

    async def stats(self, collection: str) -> dict[str, int]: ...
