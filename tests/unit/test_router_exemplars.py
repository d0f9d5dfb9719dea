"""DAERT_ROUTER_EXEMPLARS: a TOML or JSON file that adds example questions per route."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.router.embedding import EmbeddingRouter, load_exemplars
from agents.router.exemplars import DEFAULT_EXEMPLARS
from core.errors import ConfigError


def test_a_toml_file_adds_to_the_defaults(tmp_path: Path) -> None:
    extra = tmp_path / "routes.toml"
    extra.write_text('retrieve = ["what does the contract say about notice periods"]\n')
    merged = load_exemplars(extra)
    assert merged["retrieve"][-1] == "what does the contract say about notice periods"
    assert len(merged["retrieve"]) == len(DEFAULT_EXEMPLARS["retrieve"]) + 1
    assert merged["web"] == DEFAULT_EXEMPLARS["web"]


def test_replace_keeps_only_the_file(tmp_path: Path) -> None:
    extra = tmp_path / "routes.json"
    extra.write_text('{"code": ["crunch these numbers"], "chat": ["hey"]}')
    assert load_exemplars(extra, replace=True) == {
        "code": ["crunch these numbers"],
        "chat": ["hey"],
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("routes.toml", 'weather = ["is it raining"]\n'),  # no such route
        ("routes.toml", "retrieve = 3\n"),  # not a list
        ("routes.toml", "retrieve = [\n"),  # not TOML
        ("routes.json", '["a list, not a table"]'),
    ],
)
def test_a_bad_file_is_a_config_error_naming_it(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_exemplars(path)
    assert error.value.code == "bad_router_exemplars"
    assert str(path) in error.value.message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_exemplars(tmp_path / "nope.toml")
    assert "DAERT_ROUTER_EXEMPLARS" in error.value.hint


class CountingEmbedder:
    """A deterministic embedder that counts the texts it embeds."""

    name, dimension = "counting", 4

    def __init__(self) -> None:
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [[float(len(t)), float(t.count(" ")), 1.0, float(sum(map(ord, t)) % 7)]
                for t in texts]  # fmt: skip


def test_exemplar_vectors_are_kept_on_disk_and_change_with_the_exemplars(
    tmp_path: Path,
) -> None:
    exemplars = {"code": ["run this code", "plot a sine"], "chat": ["hello there"]}
    first, second = CountingEmbedder(), CountingEmbedder()
    one = EmbeddingRouter(first, exemplars)
    asyncio.run(one.setup(cache_dir=tmp_path))
    two = EmbeddingRouter(second, exemplars)
    asyncio.run(two.setup(cache_dir=tmp_path))
    assert (first.calls, second.calls) == (3, 0)  # the second process read them back
    assert two.scores([5.0, 1.0, 1.0, 2.0]) == one.scores([5.0, 1.0, 1.0, 2.0])
    changed = CountingEmbedder()
    asyncio.run(EmbeddingRouter(changed, {**exemplars, "chat": ["hi"]}).setup(cache_dir=tmp_path))
    assert changed.calls == 3  # other exemplars: embedded afresh, not the old file
    for stored in tmp_path.glob("router-exemplars-*.npy"):
        stored.write_bytes(b"not numpy")  # a damaged file is recomputed, not trusted
    damaged = CountingEmbedder()
    asyncio.run(EmbeddingRouter(damaged, exemplars).setup(cache_dir=tmp_path))
    assert damaged.calls == 3
