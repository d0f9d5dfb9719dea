"""The tool registry is the one list of tools: every reader agrees with it."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from agents.router.embedding import ROUTES
from agents.router.exemplars import CHAT_EXEMPLARS, DEFAULT_EXEMPLARS
from agents.router.planner import PlannedStep, planner_system
from core.errors import ConfigError
from daert.settings import load_settings
from graphs.assistant.graph import build_graph
from graphs.assistant.nodes import AssistantConfig, Nodes
from graphs.assistant.tools import Toolbox
from tools.registry import TOOL_NAMES, TOOL_SPECS, TimeoutKind, ToolName


class NoEmbedder:
    """A Toolbox needs an embedder; these tests never embed."""

    name = "none"
    dimension = 1

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise AssertionError("not used")


def test_the_specs_are_the_literal_names_in_order() -> None:
    assert get_args(ToolName) == TOOL_NAMES == tuple(TOOL_SPECS)
    assert all(spec.name == name for name, spec in TOOL_SPECS.items())


def test_every_tool_has_its_own_exemplars_and_planner_words() -> None:
    seen: set[str] = set(CHAT_EXEMPLARS)
    for spec in TOOL_SPECS.values():
        assert spec.exemplars, spec.name
        assert all(u.strip() == u and u for u in spec.exemplars), spec.name
        assert seen.isdisjoint(spec.exemplars), spec.name  # one utterance, one route
        seen.update(spec.exemplars)
        assert spec.description and spec.takes, spec.name
        assert "\n" not in spec.description + spec.takes, spec.name


def test_every_spec_names_a_toolbox_port_runner_and_timeout() -> None:
    ports = {field.name for field in dataclasses.fields(Toolbox)}
    box = Toolbox(embedder=NoEmbedder())
    for spec in TOOL_SPECS.values():
        assert spec.port in ports, spec.name
        runner = getattr(Toolbox, spec.runner, None)
        assert inspect.iscoroutinefunction(runner), spec.name
        assert list(inspect.signature(runner).parameters) == ["self", "call", "session"]
    assert all(box.limit(kind) > 0 for kind in get_args(TimeoutKind))


def test_a_tool_is_available_when_its_port_is_set() -> None:
    box = Toolbox(embedder=NoEmbedder())
    assert box.available == []
    for spec in TOOL_SPECS.values():
        port: dict[str, Any] = {spec.port: object()}
        with_port = dataclasses.replace(box, **port)
        assert with_port.available == [spec.name]


def test_the_router_routes_to_every_tool_and_chat() -> None:
    assert ROUTES[:-1] == TOOL_NAMES
    assert ROUTES[-1] == "chat"
    assert list(DEFAULT_EXEMPLARS) == list(ROUTES)
    for name, spec in TOOL_SPECS.items():
        assert DEFAULT_EXEMPLARS[name] == list(spec.exemplars)


def test_the_planner_offers_every_tool() -> None:
    prompt = planner_system(3)
    for spec in TOOL_SPECS.values():
        assert f"{spec.planner_line()}\n" in prompt
        assert PlannedStep(tool=spec.name, input="x").tool == spec.name
    with pytest.raises(ValidationError):
        PlannedStep.model_validate({"tool": "weather", "input": "x"})


def test_the_graph_has_a_node_per_tool_routed_both_ways() -> None:
    unused: Any = None
    graph = build_graph(Nodes(unused, unused, unused, AssistantConfig())).get_graph()
    edges = {(edge.source, edge.target) for edge in graph.edges}
    for name in TOOL_NAMES:
        assert ("route", name) in edges
        assert (name, "route") in edges


def test_settings_refuse_an_unknown_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().assistant_tools == list(TOOL_NAMES)
    monkeypatch.setenv("DAERT_ASSISTANT_TOOLS", '["retrieve", "weather"]')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.code == "config_invalid"
    assert "DAERT_ASSISTANT_TOOLS" in caught.value.message
    assert all(f"'{name}'" in caught.value.message for name in TOOL_NAMES)  # what may be set
