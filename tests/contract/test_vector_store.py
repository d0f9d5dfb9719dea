"""The VectorStore contract on the real embedded PostgreSQL + pgvector."""

from __future__ import annotations

import uuid

import pytest

from core.errors import InputError
from knowledge.vector.ports import Chunk, DocumentRecord, SearchOptions, VectorStore

pytestmark = pytest.mark.slow


@pytest.fixture
def collection() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def doc(source: str, digest: str = "h1", **meta: object) -> DocumentRecord:
    return DocumentRecord(source=source, content_hash=digest, title=source.upper(), metadata=meta)


CHUNKS = [
    Chunk(0, "Cats purr when they are content.", [1.0, 0.0, 0.0], {"lang": "en"}),
    Chunk(1, "Kittens purr as well, usually louder.", [0.95, 0.05, 0.0], {"lang": "en"}),
    Chunk(2, "The invoice number is ZX-4471.", [0.0, 1.0, 0.0], {"lang": "en"}),
    Chunk(3, "Les chats ronronnent.", [0.9, 0.0, 0.1], {"lang": "fr"}),
]


async def test_vector_search_ranks_by_similarity(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    assert await store.replace_document(collection, doc("a.md"), CHUNKS) == 4
    hits = await store.search(collection, "", [1.0, 0.0, 0.0], SearchOptions(k=2, hybrid=1.0))
    assert [h.content for h in hits] == [CHUNKS[0].content, CHUNKS[1].content]
    assert hits[0].source == "a.md" and hits[0].title == "A.MD"
    assert hits[0].score > hits[1].score


async def test_hybrid_search_finds_exact_terms(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    await store.replace_document(collection, doc("a.md"), CHUNKS)
    hits = await store.search(collection, "ZX-4471", [1.0, 0.0, 0.0], SearchOptions(k=1))
    assert hits[0].content == CHUNKS[2].content
    assert hits[0].text_rank == 1


async def test_metadata_filters(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    await store.replace_document(collection, doc("a.md"), CHUNKS)
    options = SearchOptions(k=5, hybrid=1.0, filters={"lang": "fr"})
    hits = await store.search(collection, "", [1.0, 0.0, 0.0], options)
    assert [h.content for h in hits] == [CHUNKS[3].content]


async def test_mmr_prefers_diverse_results(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    await store.replace_document(collection, doc("a.md"), CHUNKS)
    plain = await store.search(collection, "", [1.0, 0.0, 0.0], SearchOptions(k=2, hybrid=1.0))
    diverse = await store.search(
        collection, "", [1.0, 0.0, 0.0], SearchOptions(k=2, hybrid=1.0, mmr=0.3)
    )
    assert plain[1].content == CHUNKS[1].content  # the near-duplicate
    assert diverse[0].content == CHUNKS[0].content
    assert diverse[1].content != CHUNKS[1].content


async def test_replace_is_whole_and_idempotent(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    await store.replace_document(collection, doc("a.md", "h1"), CHUNKS)
    await store.replace_document(collection, doc("a.md", "h2"), CHUNKS[:1])
    assert await store.stats(collection) == {"documents": 1, "chunks": 1}
    assert await store.document_hash(collection, "a.md") == "h2"
    bad = [CHUNKS[0], Chunk(1, "wrong size", [1.0, 0.0])]
    with pytest.raises(InputError) as caught:
        await store.replace_document(collection, doc("a.md", "h3"), bad)
    assert caught.value.code == "embedder_mismatch"
    assert await store.document_hash(collection, "a.md") == "h2"  # nothing half-written
    assert await store.stats(collection) == {"documents": 1, "chunks": 1}
    assert await store.delete_document(collection, "a.md")
    assert not await store.delete_document(collection, "a.md")
    assert await store.stats(collection) == {"documents": 0, "chunks": 0}


async def test_collection_remembers_its_embedder(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, "test/3d", 3)
    with pytest.raises(InputError) as caught:
        await store.ensure_collection(collection, "other/384", 384)
    assert caught.value.code == "embedder_mismatch"
    with pytest.raises(InputError) as caught:
        await store.search(collection, "x", [0.0] * 384, SearchOptions())
    assert caught.value.code == "embedder_mismatch"
    with pytest.raises(InputError) as caught:
        await store.search("no-such-collection", "x", [0.0] * 3, SearchOptions())
    assert caught.value.code == "collection_not_found"
    with pytest.raises(InputError) as caught:
        await store.ensure_collection("bad name; DROP TABLE x", "test/3d", 3)
    assert caught.value.code == "collection_name_invalid"
