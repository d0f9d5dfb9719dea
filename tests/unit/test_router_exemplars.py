"""DAERT_ROUTER_EXEMPLARS: a TOML or JSON file that adds example questions per route."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.router.embedding import load_exemplars
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
