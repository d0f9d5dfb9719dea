"""The embedding router: a question goes where its nearest exemplar utterances are.

Model-free apart from the embedder, so it routes well even when the chat model is a tiny base
model. A route scores the mean of its `top` best exemplar similarities; the best route wins
when it clears `threshold`, and a second tool route joins it (run in parallel) when it is
within `margin`. Below the threshold the `fallback` route is taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.embeddings.ports import Embedder
from agents.router.exemplars import CHAT_ROUTE, DEFAULT_EXEMPLARS
from core.errors import ConfigError
from tools.registry import SOLO_TOOLS, TOOL_NAMES

log = logging.getLogger("daert.router")
ROUTES: tuple[str, ...] = (*TOOL_NAMES, CHAT_ROUTE)
ALONE = frozenset({CHAT_ROUTE, *SOLO_TOOLS})  # routes never paired with a second one
CODE_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class RouteDecision:
    routes: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    confident: bool = True
    reason: str = ""


def load_exemplars(path: Path | None, *, replace: bool = False) -> dict[str, list[str]]:
    """The default exemplars, extended (or replaced) by a TOML or JSON file of route -> list."""
    merged = {} if replace else {k: list(v) for k, v in DEFAULT_EXEMPLARS.items()}
    if path is None:
        return merged
    try:
        raw = path.read_text(encoding="utf-8")
        data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read router exemplars from {path}: {err}",
            hint="DAERT_ROUTER_EXEMPLARS must name a TOML or JSON file mapping route names to "
            "lists of example questions",
            code="bad_router_exemplars",
        ) from err
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must map route names to lists",
            hint='e.g. code = ["plot a sine wave"] in TOML',
            code="bad_router_exemplars",
        )
    for route, utterances in data.items():
        if route not in ROUTES:
            raise ConfigError(
                f"{path}: unknown route {route!r}",
                hint=f"routes are {', '.join(ROUTES)}",
                code="bad_router_exemplars",
            )
        if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
            raise ConfigError(
                f"{path}: {route} must be a list of strings",
                hint='e.g. code = ["plot a sine wave"] in TOML',
                code="bad_router_exemplars",
            )
        merged.setdefault(route, []).extend(u for u in utterances if u.strip())
    return merged


def _vector_file(
    folder: Path, embedder: Embedder, labels: Sequence[str], texts: Sequence[str]
) -> Path:
    key = hashlib.sha256(
        json.dumps([embedder.name, embedder.dimension, list(labels), list(texts)]).encode()
    ).hexdigest()
    return folder / f"router-exemplars-{key[:32]}.npy"


def _read_vectors(path: Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The stored vectors, or None when there are none (or they do not fit: recomputed)."""
    if path is None:
        return None
    try:
        vectors: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if vectors.shape != shape or vectors.dtype != np.float32:
        return None
    return vectors


def _write_vectors(path: Path | None, vectors: np.ndarray) -> None:
    """Keep the vectors for the next process; a folder we cannot write only costs speed."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as out:
            np.save(out, vectors, allow_pickle=False)
        partial.replace(path)  # atomic: a reader never sees half a file
    except OSError as err:
        log.warning("router exemplar vectors not kept in %s: %s", path.parent, err)


class EmbeddingRouter:
    """Routes by similarity to exemplars. Call `setup()` once (it embeds the exemplars)."""

    def __init__(
        self,
        embedder: Embedder,
        exemplars: Mapping[str, Sequence[str]] | None = None,
        *,
        threshold: float = 0.2,
        margin: float = 0.04,
        fallback: str = "retrieve",
        top: int = 2,
        enabled: Sequence[str] = ROUTES,
    ) -> None:
        self.embedder = embedder
        wanted = set(enabled) | {CHAT_ROUTE}
        source = exemplars if exemplars is not None else DEFAULT_EXEMPLARS
        self.exemplars = {r: list(u) for r, u in source.items() if r in wanted and u}
        if fallback not in self.exemplars and fallback != CHAT_ROUTE:
            fallback = CHAT_ROUTE
        self.threshold = threshold
        self.margin = margin
        self.fallback = fallback
        self.top = top
        self._matrix: np.ndarray | None = None
        self._labels: list[str] = []

    async def setup(self, cache_dir: Path | None = None) -> None:
        """Embed the exemplars; with `cache_dir`, the vectors are kept there in a file keyed by
        the embedder and the exemplars' content, so the next process reads them back."""
        labels = [r for r, utterances in self.exemplars.items() for _ in utterances]
        texts = [u for utterances in self.exemplars.values() for u in utterances]
        cached = _vector_file(cache_dir, self.embedder, labels, texts) if cache_dir else None
        vectors = _read_vectors(cached, (len(texts), self.embedder.dimension))
        if vectors is None:
            vectors = np.asarray(await self.embedder.embed(texts), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
            _write_vectors(cached, vectors)
        self._matrix, self._labels = vectors, labels

    def scores(self, vector: Sequence[float]) -> dict[str, float]:
        if self._matrix is None:
            raise RuntimeError("EmbeddingRouter.setup() was not awaited")
        q = np.asarray(vector, dtype=np.float32)
        q /= np.linalg.norm(q) + 1e-12
        sims = self._matrix @ q
        out: dict[str, float] = {}
        for route in self.exemplars:
            mine = np.sort(sims[[i for i, lab in enumerate(self._labels) if lab == route]])
            out[route] = float(mine[-self.top :].mean())
        return out

    async def route(self, question: str, vector: Sequence[float] | None = None) -> RouteDecision:
        if CODE_FENCE.search(question) and "code" in self.exemplars:
            return RouteDecision(["code"], reason="the message contains a code block")
        if vector is None:
            vector = (await self.embedder.embed([question]))[0]
        scores = self.scores(vector)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best, best_score = ranked[0]
        if best_score < self.threshold:
            return RouteDecision(
                [self.fallback], scores, confident=False,
                reason=f"no route reached {self.threshold:.2f} (best {best} {best_score:.2f})",
            )  # fmt: skip
        routes = [best]
        second, second_score = ranked[1] if len(ranked) > 1 else (CHAT_ROUTE, -1.0)
        if (
            best not in ALONE
            and second not in ALONE
            and best_score - second_score <= self.margin
            and second_score >= self.threshold
        ):
            routes.append(second)
        return RouteDecision(routes, scores, reason=f"{best} {best_score:.2f}")
