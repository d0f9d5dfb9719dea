"""An Embedder that remembers recent texts: one turn embeds its question once, not per use."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from agents.embeddings.ports import Embedder


class CachedEmbedder:
    """Wraps an Embedder with a small LRU of text -> vector; misses are embedded in one batch."""

    def __init__(self, inner: Embedder, size: int = 1024) -> None:
        self.inner = inner
        self.size = size
        self._lru: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._lru))
        if missing:
            for text, vector in zip(missing, await self.inner.embed(missing), strict=True):
                self._lru[text] = vector
        out = []
        for text in texts:
            self._lru.move_to_end(text)
            out.append(self._lru[text])
        while len(self._lru) > self.size:
            self._lru.popitem(last=False)
        return out
