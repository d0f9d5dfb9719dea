"""The assistant graph on the real checkpointer, cache, stores and sandbox, with a strict model.

The scripted model fails the test on any call it did not expect, on a call whose prompt lacks
the text the reply expects, and on replies left unused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.embeddings.known import KnownFirst
from agents.embeddings.ports import Embedder
from agents.testing.openai_double import OpenAIDouble, ok
from core.errors import InputError
from daert.adapters import build_embedder, build_ingestor, build_vector_store
from daert.services.plan import build_supervisor, endpoints
from graphs.assistant.events import RunDone, ToolFinished, ToolStarted
from tests.conftest import Stack
from tests.graph.conftest import Opener, assistant_settings
from tests.support.assistant import AssistantRuntime

pytestmark = pytest.mark.slow

ZEPHYR = """# Zephyr deployment guide

The Zephyr service listens on port 7421 and stores its data under /srv/zephyr.
Deployments happen every Tuesday after the change review meeting.
"""


async def ingest(
    stack: Stack, model: OpenAIDouble, collection: str, tmp_path: Path, *, text: str = ZEPHYR,
    expect: str = "added",
) -> str:  # fmt: skip
    """Ingest (or re-ingest) zephyr.md the way `daert ingest` does, cache invalidation included."""
    doc = tmp_path / "zephyr.md"
    doc.write_text(text)
    settings = assistant_settings(stack, model, collection)
    urls = endpoints(settings, build_supervisor(settings))
    store = build_vector_store(urls)
    await store.setup()
    try:
        ingestor = build_ingestor(
            settings, store, build_embedder(settings), collection, redis=urls.redis
        )
        report = await ingestor.ingest([str(doc)])
        assert [r.outcome for r in report.results] == [expect]
    finally:
        await store.aclose()
    return str(doc)


class CountingEmbedder:
    """The real embedder, counting each text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.name, self.dimension = inner.name, inner.dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return await self.inner.embed(texts)


async def test_a_turn_embeds_its_question_once(
    runtime: AssistantRuntime, model: OpenAIDouble, stack: Stack, collection: str, tmp_path: Path
) -> None:
    """Route, memory recall, retrieval and the cache all use the question's vector; the
    embedder sees the question once (it used to see it four times)."""
    await ingest(stack, model, collection, tmp_path)
    shared = runtime.runtime.embedder()
    assert isinstance(shared, KnownFirst)
    counting = CountingEmbedder(shared.inner)
    shared.inner = counting
    question = "Which port does the Zephyr service listen on?"
    model.then(ok("Zephyr listens on port 7421 [1].", expect="port 7421"))
    reply = await runtime.assistant.ask(question, user_id="embed-once")
    assert reply.routes == ["retrieve"] and reply.cache.get("stored") is True
    assert counting.texts.count(question) == 1, counting.texts


async def test_retrieval_answer_cites_the_document_and_is_cached(
    runtime: AssistantRuntime, model: OpenAIDouble, stack: Stack, collection: str, tmp_path: Path
) -> None:
    source = await ingest(stack, model, collection, tmp_path)
    model.then(ok("Zephyr listens on port 7421 [1].", expect="port 7421"))
    reply = await runtime.assistant.ask(
        "Which port does the Zephyr service listen on?", user_id="u1"
    )
    assert reply.routes == ["retrieve"]
    assert reply.text == "Zephyr listens on port 7421 [1]."
    assert [c["ref"] for c in reply.citations] == [source]
    assert reply.cache.get("stored") is True
    # A paraphrase in a new thread comes from the cache: the strict model gets no call.
    again = await runtime.assistant.ask(
        "Which port does the Zephyr service listen on", user_id="u1"
    )
    assert again.cache.get("hit") is True
    assert again.text == reply.text
    assert [c["ref"] for c in again.citations] == [source]
    # Another user has their own cache scope; re-ingesting invalidates everyone's answers.
    model.then(ok("Port 7421 [1].", expect="port 7421"))
    other = await runtime.assistant.ask(
        "Which port does the Zephyr service listen on?", user_id="u2"
    )
    assert other.cache.get("hit") is False


async def test_ingesting_invalidates_cached_answers(
    runtime: AssistantRuntime, model: OpenAIDouble, stack: Stack, collection: str, tmp_path: Path
) -> None:
    await ingest(stack, model, collection, tmp_path)
    question = "When do Zephyr deployments happen?"
    model.then(ok("On Tuesdays [1].", expect="Tuesday"))
    assert (await runtime.assistant.ask(question)).cache.get("stored")
    changed = ZEPHYR.replace("Tuesday", "Thursday")
    await ingest(stack, model, collection, tmp_path, text=changed, expect="updated")
    model.then(ok("On Thursdays [1].", expect="Thursday"))
    fresh = await runtime.assistant.ask(question)
    assert fresh.cache.get("hit") is False
    assert fresh.text == "On Thursdays [1]."


async def test_nothing_relevant_means_i_dont_know_without_a_model_call(
    runtime: AssistantRuntime,
) -> None:
    reply = await runtime.assistant.ask("What is the capital of the moon colony Tycho?")
    assert "retrieve" in reply.routes and set(reply.routes) <= {"retrieve", "kg"}
    assert reply.text.startswith("I don't know")
    assert reply.citations == []


async def test_thread_history_survives_a_restart(open_runtime: Opener, model: OpenAIDouble) -> None:
    async with open_runtime(assistant_tools=[]) as rt:
        model.then(ok("Hi Ada!", expect="hello, I am testing"))
        first = await rt.assistant.ask("hello, I am testing", thread_id="t-restart", user_id="u")
    assert first.text == "Hi Ada!"
    async with open_runtime(
        assistant_tools=[]
    ) as rt:  # a new process would see the same PostgreSQL rows
        model.then(ok("Still here.", expect="hello, I am testing"))
        await rt.assistant.ask("thanks, bye", thread_id="t-restart", user_id="u")
        history = await rt.assistant.history("t-restart", "u")
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "hello, I am testing"),
        ("assistant", "Hi Ada!"),
        ("user", "thanks, bye"),
        ("assistant", "Still here."),
    ]
    # The second call carried the first turn as history.
    sent = model.chat_requests()[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant"] == ["Hi Ada!"]


async def test_code_block_runs_in_the_sandbox_and_its_output_reaches_the_model(
    runtime: AssistantRuntime, model: OpenAIDouble
) -> None:
    model.then(ok("The result is 42.", expect="42"))
    reply = await runtime.assistant.ask("run this\n```python\nprint(6 * 7)\n```", user_id="c")
    assert reply.routes == ["code"]
    assert reply.tools[0]["ok"] is True
    assert reply.citations[0]["kind"] == "code"
    assert "42" in reply.citations[0]["text"]


async def test_a_failing_tool_is_reported_to_the_model_not_fatal(
    runtime: AssistantRuntime, model: OpenAIDouble
) -> None:
    model.then(ok("Division by zero is undefined.", expect="ZeroDivisionError"))
    reply = await runtime.assistant.ask("```python\n1 / 0\n```")
    assert reply.tools[0]["ok"] is False
    assert reply.text == "Division by zero is undefined."


def plan(*steps: tuple[str, str], done: bool = False) -> str:
    return json.dumps({"steps": [{"tool": t, "input": i} for t, i in steps], "done": done})


async def test_planner_runs_independent_steps_in_parallel_then_replans(
    open_runtime: Opener, model: OpenAIDouble, stack: Stack, collection: str, tmp_path: Path
) -> None:
    await ingest(stack, model, collection, tmp_path)
    model.then(
        ok(plan(("retrieve", "Zephyr port"), ("code", "print(7421 * 2)")), expect="Tools:"),
        ok(plan(done=True), expect="Results so far"),
        ok("Port 7421 [1]; doubled it is 14842 [2].", expect="14842"),
    )
    async with open_runtime(planner_capable=True) as rt:
        events = [e async for e in rt.assistant.stream("Zephyr port, doubled?", user_id="p")]
    kinds = [e.type for e in events]
    started = [i for i, e in enumerate(events) if isinstance(e, ToolStarted)]
    finished = [i for i, e in enumerate(events) if isinstance(e, ToolFinished)]
    assert len(started) == 2 and len(finished) == 2
    assert max(started) < min(finished), "both tools start before either finishes"
    done = events[-1]
    assert isinstance(done, RunDone)
    assert kinds[0] == "run_started" and kinds[-1] == "done"
    assert sorted(done.reply.routes) == ["code", "retrieve"]
    assert {c["kind"] for c in done.reply.citations} == {"chunk", "code"}
    assert "token" in kinds


async def test_step_limit_bounds_a_planner_that_never_stops(
    open_runtime: Opener, model: OpenAIDouble
) -> None:
    model.then(
        ok(plan(("code", "print(1)")), expect="Tools:"),
        ok(plan(("code", "print(2)")), expect="Results so far"),
        ok("Done.", expect="Question"),
    )
    async with open_runtime(planner_capable=True, max_steps=2) as rt:
        reply = await rt.assistant.ask("count for me", user_id="p")
    assert [t["query"] for t in reply.tools] == ["print(1)", "print(2)"]
    assert reply.text == "Done."


async def test_long_threads_are_summarized(open_runtime: Opener, model: OpenAIDouble) -> None:
    filler = " ".join(["words"] * 60)
    model.then(
        ok("First answer.", expect="hello"),
        ok("The user said hello at length.", expect="Update the running summary"),
        ok("Second answer.", expect="Summary of the earlier conversation:\nThe user said hello"),
    )
    async with open_runtime(history_tokens=64, assistant_tools=[]) as rt:
        await rt.assistant.ask(f"hello {filler}", thread_id="t-long", user_id="s")
        await rt.assistant.ask("good morning", thread_id="t-long", user_id="s")
    second = model.chat_requests()[-1]["messages"]
    assert filler not in json.dumps(second), "the summarized turn is no longer sent verbatim"


async def test_user_facts_are_remembered_recalled_edited_and_forgotten(
    open_runtime: Opener, model: OpenAIDouble
) -> None:
    async with open_runtime(assistant_tools=[]) as runtime:
        model.then(
            ok("Nice to meet you, Ada."), ok("You live in Lisbon.", expect="I live in Lisbon")
        )
        await runtime.assistant.ask("Hello! I live in Lisbon.", user_id="ada@example.org")
        recalled = await runtime.assistant.ask(
            "hi, where is my home city?", user_id="ada@example.org"
        )
        assert recalled.memories == ["I live in Lisbon."]
        assert recalled.cache.get("checked") and not recalled.cache.get("stored")
        assert runtime.memory is not None
        items = await runtime.memory.list("ada@example.org")
        assert [m.text for m in items] == ["I live in Lisbon."]
        assert await runtime.memory.list("someone-else") == []
        edited = await runtime.memory.update("ada@example.org", items[0].id, "I live in Porto.")
        assert edited.text == "I live in Porto."
        await runtime.memory.forget("ada@example.org", items[0].id)
        assert await runtime.memory.list("ada@example.org") == []
        with pytest.raises(InputError) as unknown:
            await runtime.memory.forget("ada@example.org", items[0].id)
        assert unknown.value.code == "memory_not_found"
        with pytest.raises(InputError) as too_long:
            await runtime.memory.remember("ada@example.org", "x" * 501)
        assert too_long.value.code == "memory_too_long"
        await runtime.memory.remember("ada@example.org", "I like tea.")
        await runtime.memory.remember("ada@example.org", "I like tea.")  # no duplicate
        await runtime.memory.remember("ada@example.org", "I have a cat.")
        assert await runtime.memory.forget_all("ada@example.org") == 2
        assert await runtime.memory.list("ada@example.org") == []


async def test_bad_requests_get_clear_errors(open_runtime: Opener, model: OpenAIDouble) -> None:
    async with open_runtime(assistant_tools=[]) as runtime:
        with pytest.raises(InputError) as empty:
            await runtime.assistant.ask("   ")
        assert empty.value.code == "empty_question"
        with pytest.raises(InputError) as bad_id:
            await runtime.assistant.ask("hello", thread_id="../../etc")
        assert bad_id.value.code == "invalid_thread_id"
        with pytest.raises(InputError) as huge:
            await runtime.assistant.ask("x" * 40_000)
        assert huge.value.code == "question_too_long"
        model.then(ok("hi"))
        await runtime.assistant.ask("hello", thread_id="t-owned", user_id="owner")
        with pytest.raises(InputError) as foreign:
            await runtime.assistant.ask("hello", thread_id="t-owned", user_id="intruder")
        assert foreign.value.code == "thread_forbidden"
        with pytest.raises(InputError) as missing:
            await runtime.assistant.history("t-never", "owner")
        assert missing.value.code == "thread_not_found"


async def test_retention_compacts_idle_threads_and_deletes_old_ones(
    open_runtime: Opener, model: OpenAIDouble
) -> None:
    async with open_runtime(assistant_tools=[]) as runtime:
        model.then(ok("one"), ok("two"), ok("three"))
        for thread, text in (("t-old", "hello"), ("t-idle", "hello"), ("t-idle", "thanks")):
            await runtime.assistant.ask(text, thread_id=thread, user_id="r", cache=False)

        async def checkpoints(thread: str) -> int:
            async with runtime.retention.registry.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (thread,)
                )
                row = await cur.fetchone()
            assert row is not None
            return int(row[0])

        before = await checkpoints("t-idle")
        assert before == 2, "one checkpoint per turn (durability=exit)"
        async with runtime.retention.registry.pool.connection() as conn:
            await conn.execute(
                "UPDATE daert_threads SET updated_at = now() - interval '100 days' "
                "WHERE thread_id = 't-old'"
            )
            await conn.execute(
                "UPDATE daert_threads SET updated_at = now() - interval '2 hours' "
                "WHERE thread_id = 't-idle'"
            )
        report = await runtime.retention.run()
        assert "t-old" in report.deleted and "t-idle" in report.compacted
        assert await checkpoints("t-old") == 0
        assert await checkpoints("t-idle") == 1
        # The compacted thread still continues with its history.
        model.then(ok("four", expect="thanks"))
        await runtime.assistant.ask("and again", thread_id="t-idle", user_id="r")
        history: list[dict[str, Any]] = await runtime.assistant.history("t-idle", "r")
        assert [m["content"] for m in history][-2:] == ["and again", "four"]


async def test_the_research_crew_runs_as_one_tool_through_the_gateway(
    open_runtime: Opener, model: OpenAIDouble
) -> None:
    model.then(
        ok(plan(("crew", "research the Analytical Engine")), expect="Tools:"),
        ok("Thought: I know enough.\nFinal Answer: notes on the engine", expect="research"),
        ok("Thought: done.\nFinal Answer: A short report on the engine.", expect="notes on"),
        ok(plan(done=True), expect="Results so far"),
        ok("Here is the report [1].", expect="A short report on the engine."),
    )
    async with open_runtime(planner_capable=True, assistant_tools=["crew"]) as rt:
        reply = await rt.assistant.ask("write me a report on the Analytical Engine")
    assert reply.routes == ["crew"]
    assert reply.tools[0]["ok"] is True, reply.tools
    assert reply.citations[0]["ref"] == "crew:report"


async def seed_graph(stack: Stack, collection: str) -> None:
    from knowledge.graph.falkordb import FalkorGraphStore
    from knowledge.graph.ports import Entity, Provenance, Relation

    graph = FalkorGraphStore(stack.url("redis"), graph=collection)
    await graph.setup()
    ada, charles = Entity("Ada Lovelace", "Person"), Entity("Charles Babbage", "Person")
    await graph.upsert(
        [ada, charles], [Relation(ada, "WORKED_WITH", charles)], Provenance("c1", "notes/ada.md")
    )
    await graph.aclose()


async def test_a_capable_planner_queries_the_graph_in_cypher(
    open_runtime: Opener, model: OpenAIDouble, stack: Stack, collection: str
) -> None:
    await seed_graph(stack, collection)
    cypher = (
        "MATCH (a:Person)-[:WORKED_WITH]-(b:Person) WHERE a.name = 'Ada Lovelace' "
        "RETURN b.name AS colleague LIMIT 10"
    )
    model.then(
        ok(plan(("kg", "Who worked with Ada Lovelace?")), expect="Tools:"),
        ok(json.dumps({"cypher": cypher}), expect="WORKED_WITH"),  # the schema is in the prompt
        ok(plan(done=True), expect="Results so far"),
        ok("Charles Babbage [1].", expect='"colleague": "Charles Babbage"'),
    )
    async with open_runtime(planner_capable=True, assistant_tools=["kg"]) as rt:
        reply = await rt.assistant.ask("Who worked with Ada Lovelace?")
    assert reply.citations[0]["ref"].startswith("graph query: MATCH")


async def test_refused_cypher_falls_back_to_entities_named_in_the_question(
    open_runtime: Opener, model: OpenAIDouble, stack: Stack, collection: str
) -> None:
    await seed_graph(stack, collection)
    write = "CREATE (x:Person {name: 'Eve'}) RETURN x"
    model.then(
        ok(plan(("kg", "Who worked with Ada Lovelace?")), expect="Tools:"),
        ok(json.dumps({"cypher": write}), expect="WORKED_WITH"),
        ok(plan(done=True), expect="Results so far"),
        ok("Charles Babbage [1].", expect="Ada Lovelace WORKED_WITH Charles Babbage"),
    )
    async with open_runtime(planner_capable=True, assistant_tools=["kg"]) as rt:
        reply = await rt.assistant.ask("Who worked with Ada Lovelace?")
    assert [c["ref"] for c in reply.citations] == ["notes/ada.md"]
    from knowledge.graph.falkordb import FalkorGraphStore

    graph = FalkorGraphStore(stack.url("redis"), graph=collection)
    try:
        assert await graph.read("MATCH (p {name: 'Eve'}) RETURN p.name AS n") == []
    finally:
        await graph.aclose()
