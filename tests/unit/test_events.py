"""The run event vocabulary: every event round-trips through JSON, and a turn's reply is what
its events said."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from langgraph.graph import START, StateGraph
from pydantic import ValidationError

from agents.embeddings.known import KnownFirst, known_vectors
from core.errors import DaertError
from graphs.assistant.assistant import Assistant
from graphs.assistant.events import (
    CacheChecked,
    CacheHit,
    MemoryRecalled,
    OutputRef,
    Reply,
    ReplyBuilder,
    RouteChosen,
    RunDone,
    RunFailed,
    RunStarted,
    SourcesCited,
    Token,
    ToolFinished,
    ToolStarted,
    parse_event,
)
from graphs.assistant.state import AssistantState
from graphs.assistant.turn import TurnContext

SOURCE = {"kind": "chunk", "ref": "a.md", "title": "A", "text": "alpha", "score": 0.9}
TURN = [
    RunStarted(thread_id="t1"),
    MemoryRecalled(texts=["I prefer tea"]),
    RouteChosen(routes=["code", "retrieve"], by="planner"),
    ToolStarted(tool="retrieve", query="alpha?"),
    ToolStarted(tool="code", query="print(2)"),
    ToolFinished(tool="code", query="print(2)", ok=True, summary="code ran",
                 outputs=[OutputRef(mime="image/png", ref="blob:" + "0" * 64)]),
    ToolFinished(tool="retrieve", query="alpha?", ok=False, summary="failed", error="boom"),
    Token(text="Alpha "),
    Token(text="is first [1]. "),
    SourcesCited(citations=[SOURCE]),
    CacheChecked(checked=True, stored=True),
]  # fmt: skip


@pytest.mark.parametrize("event", [*TURN, RunDone(reply=Reply(thread_id="t", text="x"))])
def test_every_event_round_trips_through_json(event: object) -> None:
    assert hasattr(event, "model_dump_json")
    text = event.model_dump_json()
    assert parse_event(text) == event
    assert parse_event(event.model_dump(mode="json")) == event


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_event({"type": "teleport", "where": "mars"})


def test_the_reply_is_folded_from_the_events() -> None:
    builder = ReplyBuilder("t1")
    for event in TURN:
        builder.add(event)
    reply = builder.reply()
    assert reply.text == "Alpha is first [1]."
    assert reply.routes == ["code", "retrieve"]
    assert reply.citations == [SOURCE]
    assert reply.memories == ["I prefer tea"]
    assert [t["tool"] for t in reply.tools] == ["code", "retrieve"]
    assert reply.tools[1] == {"tool": "retrieve", "query": "alpha?", "ok": False,
                              "summary": "failed", "error": "boom"}  # fmt: skip
    assert [o.mime for o in reply.outputs] == ["image/png"]
    assert reply.cache == {"checked": True, "hit": False, "stored": True}


def test_a_cache_hit_routes_to_the_cache() -> None:
    builder = ReplyBuilder("t2")
    for event in (CacheHit(similarity=0.97, question="q"), Token(text="cached")):
        builder.add(event)
    assert builder.reply().routes == ["cache"]


class Counting:
    name, dimension = "counting", 2

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.seen += texts
        return [[float(len(t)), 1.0] for t in texts]


def test_handed_down_vectors_are_used_only_inside_their_block() -> None:
    inner = Counting()
    embedder = KnownFirst(inner)

    async def run() -> None:
        with known_vectors(embedder, {"question": [9.0, 9.0]}):
            assert await embedder.embed(["question", "other"]) == [[9.0, 9.0], [5.0, 1.0]]
            with known_vectors(embedder, {"question": [9.0, 9.0]}):  # a second turn, same text
                pass
            assert await embedder.embed(["question"]) == [[9.0, 9.0]]  # still held by the first
        assert await embedder.embed(["question"]) == [[8.0, 1.0]]  # the block ended

    asyncio.run(run())
    assert inner.seen == ["other", "question"]


def test_a_failed_turn_says_so_in_an_event_before_it_raises() -> None:
    """A real (tiny) LangGraph graph whose first node fails the way a dead model does."""

    async def route(state: AssistantState) -> dict[str, object]:
        raise DaertError("the model does not answer", hint="check it", code="model_unavailable")

    builder = StateGraph(AssistantState, context_schema=TurnContext)
    builder.add_node("route", route)
    builder.add_edge(START, "route")
    assistant = Assistant(builder.compile())
    seen: list[object] = []

    async def run() -> None:
        async for event in assistant.stream("hello?", thread_id="t-fail", user_id="u"):
            seen.append(event)

    with pytest.raises(DaertError) as caught:
        asyncio.run(run())
    assert caught.value.code == "model_unavailable"
    assert seen == [
        RunStarted(thread_id="t-fail"),
        RunFailed(code="model_unavailable", message="the model does not answer", hint="check it"),
    ]
