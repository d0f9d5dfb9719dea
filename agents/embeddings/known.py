"""Embed a turn's question once: a vector already computed is handed down, not recomputed.

The route node embeds the question, then does the rest of its work (memory recall, the cache,
tools) inside `known_vectors(embedder, {question: vector})`. While that block runs, the
`KnownFirst` embedder answers those texts from the given vectors, whichever task asks
(LangGraph's store embeds in a batching task of its own), and embeds only other texts. When
the block ends the vectors are dropped: this hands a value down, it is not a cache.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from agents.embeddings.ports import Embedder


class KnownFirst:
    """An Embedder that takes handed-down vectors first and embeds the rest with `inner`."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._known: dict[str, list[float]] = {}
        self._holders: Counter[str] = Counter()  # blocks (turns) that handed each text down

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @contextlib.contextmanager
    def known(self, vectors: Mapping[str, list[float]]) -> Iterator[None]:
        """Within this block, these texts embed to these vectors (for every caller)."""
        for text, vector in vectors.items():
            self._known[text] = vector
            self._holders[text] += 1
        try:
            yield
        finally:
            for text in vectors:
                self._holders[text] -= 1
                if self._holders[text] <= 0:
                    del self._holders[text]
                    self._known.pop(text, None)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        known = dict(self._known)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        fresh = dict(zip(missing, await self.inner.embed(missing), strict=True)) if missing else {}
        return [known[t] if t in known else fresh[t] for t in texts]


def known_vectors(
    embedder: Embedder, vectors: Mapping[str, list[float]]
) -> contextlib.AbstractContextManager[None]:
    """`embedder.known(vectors)` when it can take handed-down vectors, else nothing."""
    if isinstance(embedder, KnownFirst) and vectors:
        return embedder.known(vectors)
    return contextlib.nullcontext()
