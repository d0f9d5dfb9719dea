"""The smallest turn through the assistant graph on the real stack."""

from __future__ import annotations

import pytest

from agents.testing.openai_double import OpenAIDouble, ok
from tests.support.assistant import AssistantRuntime

pytestmark = pytest.mark.slow


async def test_chat_route_answers_with_the_model(
    runtime: AssistantRuntime, model: OpenAIDouble
) -> None:
    model.then(ok("Hello! How can I help?", expect="hello there"))
    reply = await runtime.assistant.ask("hello there", thread_id="t-smoke", user_id="u1")
    assert reply.routes == ["chat"]
    assert reply.text == "Hello! How can I help?"
