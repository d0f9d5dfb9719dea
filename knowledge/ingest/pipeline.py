"""load -> clean -> chunk -> embed -> upsert, one document at a time, idempotent.

An unchanged source (same content hash) writes nothing; a changed one replaces its chunks in
one transaction; a source that fails leaves nothing behind and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agents.embeddings.ports import Embedder
from core.errors import DaertError, InputError
from knowledge.ingest.chunking import (
    CHUNKER_VERSION,
    ChunkSpec,
    TokenCounter,
    chunk,
    estimate_tokens,
)
from knowledge.ingest.loaders import DEFAULT_MAX_BYTES, SUPPORTED, LoadedDocument, load
from knowledge.vector.ports import Chunk, DocumentRecord, VectorStore

Outcome = Literal["added", "updated", "unchanged", "failed", "skipped"]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Normalize Unicode, drop control characters, trim trailing spaces and blank-line runs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def content_hash(doc: LoadedDocument, spec: ChunkSpec, embedder: Embedder) -> str:
    digest = hashlib.sha256()
    parts = [
        CHUNKER_VERSION,
        json.dumps(spec.__dict__, sort_keys=True),
        embedder.name,
        doc.doc_type,
        doc.text,
        json.dumps(doc.records, sort_keys=True, default=str),
    ]
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


@dataclass
class SourceResult:
    source: str
    outcome: Outcome
    chunks: int = 0
    error: str | None = None
    code: str | None = None


@dataclass
class IngestReport:
    results: list[SourceResult] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results)


def expand(sources: Iterable[str]) -> Iterator[str]:
    """Files, URLs, and the supported files under directories (hidden ones skipped), lazily."""
    for source in sources:
        path = Path(source)
        if source.startswith(("http://", "https://")) or not path.is_dir():
            yield source
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
            for name in sorted(files):
                if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED:
                    yield str(Path(root) / name)


class Ingestor:
    """Ingests sources into one collection of a VectorStore with one Embedder."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        collection: str = "default",
        *,
        spec: ChunkSpec | None = None,
        count_tokens: TokenCounter = estimate_tokens,
        batch_size: int = 64,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_change: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.on_change = on_change  # told the collection after every change (cache invalidation)
        self.store = store
        self.embedder = embedder
        self.collection = collection
        self.spec = spec or ChunkSpec()
        self.count_tokens = count_tokens
        self.batch_size = batch_size
        self.max_bytes = max_bytes

    async def prepare(self) -> None:
        await self.store.ensure_collection(
            self.collection, self.embedder.name, self.embedder.dimension
        )

    async def ingest_loaded(self, doc: LoadedDocument) -> SourceResult:
        """Chunk, embed and store one loaded document (also the entry of streaming ingestion)."""
        doc.text = clean(doc.text)
        digest = content_hash(doc, self.spec, self.embedder)
        previous = await self.store.document_hash(self.collection, doc.source)
        if previous == digest:
            return SourceResult(doc.source, "unchanged")
        pieces = chunk(doc, self.spec, self.count_tokens)
        if not pieces:
            raise InputError(
                f"{doc.source} has no text to ingest", hint="check the file", code="source_empty"
            )
        vectors: list[list[float]] = []
        for start in range(0, len(pieces), self.batch_size):
            batch = pieces[start : start + self.batch_size]
            vectors.extend(await self.embedder.embed([p.content for p in batch]))
        base: dict[str, object] = {
            "source": doc.source,
            "type": doc.doc_type,
            "format": doc.fmt,
            "title": doc.title,
        }
        base.update({k: v for k, v in doc.metadata.items() if isinstance(v, str | int | float)})
        chunks = []
        for i, (piece, vector) in enumerate(zip(pieces, vectors, strict=True)):
            extra = {k: x for k, x in piece.metadata.items() if x is not None}
            chunks.append(
                Chunk(i, piece.content, vector, {**base, **extra, "content_hash": digest})
            )
        record = DocumentRecord(doc.source, digest, doc.title, doc.doc_type, base)
        await self.store.replace_document(self.collection, record, chunks)
        if self.on_change is not None:
            await self.on_change(self.collection)
        return SourceResult(doc.source, "updated" if previous else "added", len(chunks))

    async def ingest(
        self, sources: Iterable[str], *, on_result: Callable[[SourceResult], None] | None = None
    ) -> IngestReport:
        await self.prepare()
        report = IngestReport()
        for source in expand(sources):
            try:
                result = await self.ingest_loaded(load(source, max_bytes=self.max_bytes))
            except DaertError as err:
                result = SourceResult(source, "failed", error=err.message, code=err.code)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
        return report

    async def remove(self, source: str) -> bool:
        removed = await self.store.delete_document(self.collection, source)
        if removed and self.on_change is not None:
            await self.on_change(self.collection)
        return removed
