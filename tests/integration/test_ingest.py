"""Ingestion end to end: real files, the local embedder, the real PostgreSQL + pgvector."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.embeddings.local import LocalMiniLM
from core.errors import InputError, ServiceError
from knowledge.ingest.chunking import ChunkSpec, embedder_token_counter
from knowledge.ingest.pipeline import Ingestor
from knowledge.vector.pgvector import PgVectorStore
from knowledge.vector.ports import SearchOptions
from tests.support.pdf import write_pdf

pytestmark = pytest.mark.slow

EMBEDDER = LocalMiniLM()

ASTRONOMY = "# Moons\n\n" + "\n\n".join(
    [
        "Jupiter has dozens of moons; Ganymede is the largest moon in the solar system.",
        "Europa hides a salty ocean beneath its ice shell, a target in the search for life.",
        "Io is the most volcanically active body known, heated by tidal forces.",
    ]
    * 6
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "moons.md").write_text(ASTRONOMY)
    (root / "bread.html").write_text(
        "<html><body><nav>menu</nav><article><h1>Sourdough</h1><p>Feed the starter with flour "
        "and water, let the dough rise overnight, then bake it in a hot oven.</p></article>"
        "</body></html>"
    )
    write_pdf(root / "tax.pdf", ["Quarterly VAT returns must be filed within one month."], "Tax")
    (root / "team.csv").write_text("name,role\nGrace,compiler engineer\nEdsger,verifier\n")
    (root / "sort.py").write_text("def quicksort(xs):\n    return sorted(xs)\n")
    (root / "junk.txt").write_bytes(b"\x00\x01\x02 not text")
    return root


def ingestor(store: PgVectorStore, collection: str) -> Ingestor:
    spec = ChunkSpec(max_tokens=60, overlap=10, post_max_tokens=60)
    return Ingestor(store, EMBEDDER, collection, spec=spec, count_tokens=embedder_token_counter())


async def test_ingest_is_idempotent_and_searchable(store: PgVectorStore, corpus: Path) -> None:
    collection = f"kb-{uuid.uuid4().hex[:8]}"
    report = await ingestor(store, collection).ingest([str(corpus)])
    outcomes = {Path(r.source).name: r.outcome for r in report.results}
    assert outcomes == {
        "bread.html": "added", "junk.txt": "failed", "moons.md": "added",
        "sort.py": "added", "tax.pdf": "added", "team.csv": "added",
    }  # fmt: skip
    assert [r.code for r in report.results if r.outcome == "failed"] == ["binary_input"]
    moons = next(r for r in report.results if r.source.endswith("moons.md"))
    assert moons.chunks > 3  # a long article is split
    stats = await store.stats(collection)
    assert stats == {"documents": 5, "chunks": report.chunks}

    again = await ingestor(store, collection).ingest([str(corpus)])
    assert {r.outcome for r in again.results} == {"unchanged", "failed"}
    assert again.chunks == 0 and await store.stats(collection) == stats

    (corpus / "moons.md").write_text("# Moons\n\nTitan has a thick nitrogen atmosphere.")
    changed = await ingestor(store, collection).ingest([str(corpus / "moons.md")])
    assert [r.outcome for r in changed.results] == ["updated"]
    assert (await store.stats(collection))["chunks"] == stats["chunks"] - moons.chunks + 1

    async def ask(question: str) -> str:
        [vector] = await EMBEDDER.embed([question])
        hits = await store.search(collection, question, vector, SearchOptions(k=1))
        return Path(hits[0].source).name

    assert await ask("how do I make bread rise?") == "bread.html"
    assert await ask("deadline for value added tax filings") == "tax.pdf"
    assert await ask("which moon has an atmosphere?") == "moons.md"
    assert await ask("who works on compilers") == "team.csv"


class FailingEmbedder:
    """Fails on its second batch: a document must then leave nothing behind."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return EMBEDDER.name

    @property
    def dimension(self) -> int:
        return EMBEDDER.dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls >= 2:
            raise ServiceError("embedder went away", code="embedder_down")
        return await EMBEDDER.embed(texts)


async def test_a_failed_document_leaves_no_partial_chunks(
    store: PgVectorStore, tmp_path: Path
) -> None:
    collection = f"kb-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "moons.md"
    source.write_text(ASTRONOMY)
    spec = ChunkSpec(max_tokens=40, overlap=0, post_max_tokens=40)
    broken = Ingestor(store, FailingEmbedder(), collection, spec=spec, batch_size=2)
    report = await broken.ingest([str(source)])
    assert [r.code for r in report.results] == ["embedder_down"]
    assert await store.stats(collection) == {"documents": 0, "chunks": 0}


async def test_another_embedder_cannot_write_into_a_collection(store: PgVectorStore) -> None:
    collection = f"kb-{uuid.uuid4().hex[:8]}"
    await store.ensure_collection(collection, "openai/text-embedding-3-small", 1536)
    with pytest.raises(InputError) as caught:
        await Ingestor(store, EMBEDDER, collection).prepare()
    assert caught.value.code == "embedder_mismatch"
