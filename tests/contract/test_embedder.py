"""The Embedder contract, run against every adapter that can run here."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from agents.embeddings.hosted import LiteLLMEmbedder
from agents.embeddings.local import LocalMiniLM
from agents.embeddings.ports import Embedder
from agents.testing.openai_double import OpenAIDouble


@pytest.fixture(scope="module")
def local() -> Embedder:
    return LocalMiniLM(batch_size=4)


@pytest.fixture(scope="module")
def hosted() -> Iterator[Embedder]:
    """LiteLLM's real client against a server speaking the OpenAI embeddings protocol."""
    with OpenAIDouble() as double:
        yield LiteLLMEmbedder("openai/double-embed", 3, api_base=double.url, api_key="x")


@pytest.fixture(params=["local", "hosted"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    value: Embedder = request.getfixturevalue(request.param)
    return value


TEXTS = ["a short line", "another, somewhat longer line of text", "z", "ünïcödé ✓ text"]


async def test_one_vector_per_text_of_the_declared_dimension(embedder: Embedder) -> None:
    vectors = await embedder.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    assert all(len(v) == embedder.dimension for v in vectors)
    assert all(all(math.isfinite(x) for x in v) for v in vectors)


async def test_order_and_batching_do_not_change_vectors(embedder: Embedder) -> None:
    together = await embedder.embed(TEXTS)
    alone = [(await embedder.embed([t]))[0] for t in TEXTS]
    for a, b in zip(together, alone, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


async def test_empty_input_gives_no_vectors(embedder: Embedder) -> None:
    assert await embedder.embed([]) == []


def test_identity_names_model_and_dimension(embedder: Embedder) -> None:
    assert embedder.name and embedder.dimension > 0
