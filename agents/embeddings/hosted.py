"""Any embedding model LiteLLM can call (OpenAI, Cohere, Ollama, an OpenAI-compatible server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.gateway.gateway import _litellm, translate
from core.errors import ServiceError


class LiteLLMEmbedder:
    """Embeddings through LiteLLM; refuses an answer whose size is not `dimension`."""

    def __init__(
        self, model: str, dimension: int, *, api_base: str | None = None, api_key: str | None = None
    ) -> None:
        self.model = model
        self._dimension = dimension
        self.params: dict[str, Any] = {}
        if api_base:
            self.params["api_base"] = api_base
        if api_key:
            self.params["api_key"] = api_key

    @property
    def name(self) -> str:
        return self.model

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            response = await _litellm().aembedding(
                model=self.model, input=list(texts), **self.params
            )
        except Exception as err:
            raise translate(err, "embed") from err
        vectors = [[float(x) for x in item["embedding"]] for item in response.data]
        if any(len(v) != self._dimension for v in vectors):
            raise ServiceError(
                f"{self.model} returned vectors of size {len(vectors[0])}, "
                f"configured {self._dimension}",
                hint="set DAERT_EMBEDDER_DIMENSION to the model's real size",
                code="embedder_dimension_mismatch",
            )
        return vectors
