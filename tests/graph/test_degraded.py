"""The assistant with some of its dependencies down: the turn is answered, never lost.

A cache that refuses connections is skipped; a knowledge graph that refuses connections is left
out of the tools. Both are the real adapters pointed at a port where nothing listens.
"""

from __future__ import annotations

import dataclasses

import pytest

from agents.testing.openai_double import OpenAIDouble, ok
from core.net import free_port
from daert.services.plan import build_supervisor, endpoints
from tests.conftest import Stack
from tests.graph.conftest import assistant_settings
from tests.support.assistant import open_assistant

pytestmark = pytest.mark.slow


async def test_a_turn_is_answered_while_redis_and_falkordb_refuse_connections(
    stack: Stack, model: OpenAIDouble, collection: str
) -> None:
    settings = assistant_settings(stack, model, collection, assistant_tools=["kg"])
    dead = f"redis://127.0.0.1:{free_port()}/0"
    urls = dataclasses.replace(
        endpoints(settings, build_supervisor(settings)), redis=dead, falkordb=dead
    )
    async with open_assistant(settings, urls) as runtime:
        assert runtime.cache is not None  # configured: it fails only when it is used
        model.then(ok("Hello, Ada.", expect="please greet me warmly"))
        reply = await runtime.assistant.ask("please greet me warmly today", user_id="u1")
    assert reply.text == "Hello, Ada."
    assert reply.routes == ["chat"]  # the graph is down: the kg tool was left out
    assert reply.cache.get("checked") is False
    assert "cache_down" in reply.cache.get("skipped", "")
