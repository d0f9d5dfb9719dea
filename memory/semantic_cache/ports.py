"""The SemanticCache port: what scopes an answer, and what a hit returns."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CacheScope:
    """An answer is reused only under the same alias, prompt, tools, tenant and knowledge."""

    alias: str
    system_prompt: str = ""
    tools: Sequence[str] = ()
    tenant: str = "default"
    collection: str = "default"

    def attributes(self, knowledge_version: int) -> dict[str, Any]:
        prompt = hashlib.sha256(self.system_prompt.encode()).hexdigest()[:16]
        toolset = hashlib.sha256(",".join(sorted(self.tools)).encode()).hexdigest()[:16]
        return {
            "alias": self.alias,
            "prompt": prompt,
            "tools": toolset,
            "tenant": self.tenant,
            "collection": self.collection,
            "kv": knowledge_version,
        }


@dataclass(frozen=True)
class CacheHit:
    question: str
    answer: str
    similarity: float  # cosine similarity of the questions
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int


class SemanticCache(Protocol):
    async def lookup(
        self, question: str, vector: Sequence[float], scope: CacheScope
    ) -> CacheHit | None: ...

    async def store(
        self,
        question: str,
        vector: Sequence[float],
        answer: str,
        scope: CacheScope,
        *,
        metadata: dict[str, Any] | None = None,
        ttl: int | None = None,
        key: str | None = None,
    ) -> None:
        """Cache an answer; storing again with the same `key` (a run id) replaces it."""
        ...

    async def knowledge_changed(self, collection: str) -> int: ...

    async def stats(self) -> CacheStats: ...

    async def clear(self) -> None: ...
