"""Which messages state user facts, and which questions may be cached."""

from __future__ import annotations

from typing import Any

import pytest

from memory.context import self_contained
from memory.longterm import facts_in


@pytest.mark.parametrize(
    ("message", "facts"),
    [
        ("Remember that my cat is called Io", ["my cat is called Io"]),
        ("please remember: I take the 8:15 train", ["I take the 8:15 train"]),
        ("Hello! I live in Lisbon. What's the weather?", ["I live in Lisbon."]),
        ("My name is Ada and I work at Initech.", ["My name is Ada and I work at Initech."]),
        ("I prefer short answers", ["I prefer short answers"]),
        ("I'm looking for the onboarding guide", []),
        ("I am not sure how to deploy this", []),
        ("Am I allowed to park here?", []),
        ("do I live in Lisbon?", []),
        ("What is my name?", []),
        ("remember", []),
    ],
)
def test_facts_in(message: str, facts: list[str]) -> None:
    assert facts_in(message) == facts


@pytest.mark.parametrize(
    ("question", "earlier", "expected"),
    [
        ("What is the refund policy?", 0, True),
        ("and what about it?", 0, True),  # the first turn has no context to lean on
        ("What is the refund policy for online orders?", 3, True),
        ("why is that?", 3, False),
        ("tell me more", 3, False),
        ("ok", 3, False),
    ],
)
def test_self_contained(question: str, earlier: int, expected: bool) -> None:
    assert self_contained(question, earlier) is expected


def test_grammar_bounds_too_large_for_llama_cpp_are_dropped() -> None:
    from agents.gateway.structured import MAX_GRAMMAR_BOUND, grammar_safe

    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "maxLength": 20000, "minLength": 1},
            "tags": {"type": "array", "maxItems": 500, "items": {"type": "string", "maxLength": 8}},
        },
    }
    safe = grammar_safe(schema)
    assert "maxLength" not in safe["properties"]["code"]
    assert safe["properties"]["code"]["minLength"] == 1
    assert "maxItems" not in safe["properties"]["tags"]
    assert safe["properties"]["tags"]["items"]["maxLength"] == 8 <= MAX_GRAMMAR_BOUND
    assert schema["properties"]["code"]["maxLength"] == 20000  # the caller's schema is untouched
