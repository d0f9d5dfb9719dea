"""The OpenAI-compatible API driven by the official `openai` client, against a real
`daert serve` on the embedded stack: the echo graph, and daert's assistant answering with a
strict scripted model."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionUserMessageParam,
)

from agents.testing.openai_double import OpenAIDouble, fail, ok
from bots.auth.keys import KeyStore
from daert.pool import open_pool
from tests.conftest import Stack
from tests.support.server import Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def user(text: str) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": text}


def assistant(text: str) -> ChatCompletionAssistantMessageParam:
    return {"role": "assistant", "content": text}


def extra(response: Any) -> dict[str, Any]:
    """The `daert` object of a completion or chunk (OpenAI's models keep unknown fields)."""
    found: dict[str, Any] = (response.model_extra or {}).get("daert") or {}
    return found


@pytest.fixture(scope="module")
def double() -> Iterator[OpenAIDouble]:
    with OpenAIDouble(strict=True) as scripted:
        yield scripted


@pytest.fixture
def model(double: OpenAIDouble) -> Iterator[OpenAIDouble]:
    """The module's strict scripted model, reset for this test and checked after it."""
    double.script.clear()
    double.requests.clear()
    double.violations.clear()
    yield double
    double.assert_done()


@pytest.fixture(scope="module")
def server(
    stack: Stack, double: OpenAIDouble, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    env = {
        "DAERT_GRAPHS": json.dumps({"trivial": "eval.bench.trivial_graph:graph"}),
        "DAERT_MODELS": json.dumps({"chat": [{"model": "openai/double", "api_base": double.url}]}),
        "DAERT_MODEL_RETRIES": "0",
        "DAERT_ASSISTANT_TOOLS": "[]",
        "DAERT_MEMORY_ENABLED": "false",
        "DAERT_CACHE_ENABLED": "false",
        "DAERT_RATE_LIMIT_PER_MINUTE": "0",
    }
    logs = tmp_path_factory.mktemp("openai-logs")
    with serve(stack.settings.data_dir, logs, env=env) as served:
        yield served


@pytest.fixture
def client(server: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key="unused", max_retries=0)


@pytest.fixture
async def aclient(server: Served) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{server.base}/v1", api_key="unused", max_retries=0
    ) as made:
        yield made


def thread_messages(server: Served, thread_id: str) -> list[tuple[str, str]]:
    state = httpx.get(f"{server.base}/threads/{thread_id}/state", timeout=30)
    assert state.status_code == 200, state.text
    return [(m["type"], m["content"]) for m in state.json()["values"]["messages"]]


def test_models_are_the_assistants_you_can_use(client: openai.OpenAI, server: Served) -> None:
    listed = {m.id: m for m in client.models.list()}
    assert {"daert", "trivial"} <= set(listed)
    assert listed["trivial"].object == "model" and listed["trivial"].owned_by == "daert"
    assert listed["trivial"].created > 0
    assert client.models.retrieve("trivial").id == "trivial"
    mine = httpx.post(f"{server.base}/assistants", json={"graph_id": "trivial", "name": "echo2"})
    assert mine.status_code == 200, mine.text
    assistant_id = mine.json()["assistant_id"]
    try:
        assert assistant_id in {m.id for m in client.models.list()}
        echoed = client.chat.completions.create(model=assistant_id, messages=[user("via mine")])
        assert echoed.choices[0].message.content == "via mine"
    finally:
        httpx.delete(f"{server.base}/assistants/{assistant_id}")
    with pytest.raises(openai.NotFoundError) as gone:
        client.models.retrieve(assistant_id)
    assert gone.value.code == "model_not_found"


def test_a_completion_from_the_echo_graph(client: openai.OpenAI, server: Served) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="trivial", messages=[user("hello echo")]
    )
    done = raw.parse()
    assert done.object == "chat.completion" and done.model == "trivial"
    assert done.id.startswith("chatcmpl-")
    [choice] = done.choices
    assert (choice.message.role, choice.message.content) == ("assistant", "hello echo")
    assert choice.finish_reason == "stop"
    daert = extra(done)
    assert raw.headers["x-daert-thread-id"] == daert["thread_id"]
    assert daert["run_id"] and daert["citations"] == []
    # No model call was made, so nothing was recorded: the usage is an estimate and says so.
    assert daert["usage_source"] == "estimated"
    assert done.usage is not None
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    run = httpx.get(f"{server.base}/threads/{daert['thread_id']}/runs/{daert['run_id']}")
    assert run.json()["status"] == "success"
    assert run.json()["kwargs"]["surface"] == "openai"


async def test_a_streamed_completion_from_the_echo_graph(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="trivial", messages=[user("stream me")], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "stream me"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert extra(finish[0])["thread_id"] == extra(chunks[0])["thread_id"]
    assert extra(finish[0])["usage_source"] == "estimated"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0


def test_earlier_turns_seed_the_new_thread(client: openai.OpenAI, server: Served) -> None:
    done = client.chat.completions.create(
        model="trivial", messages=[user("one"), assistant("two"), user("three")]
    )
    assert done.choices[0].message.content == "three"
    assert thread_messages(server, extra(done)["thread_id"]) == [
        ("human", "one"), ("ai", "two"), ("human", "three"), ("ai", "three"),
    ]  # fmt: skip


def test_the_assistant_answers_with_the_scripted_model(
    client: openai.OpenAI, model: OpenAIDouble
) -> None:
    model.then(ok("Hi Ada!", expect="hello, I am testing"))
    done = client.chat.completions.create(model="daert", messages=[user("hello, I am testing")])
    assert done.choices[0].message.content == "Hi Ada!"
    assert done.model == "daert"
    # The gateway recorded the model's own counts (the double reports 7 + 3).
    assert extra(done)["usage_source"] == "recorded"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (7, 3)
    assert done.usage.total_tokens == 10


async def test_the_assistant_streams_its_tokens(
    aclient: openai.AsyncOpenAI, model: OpenAIDouble
) -> None:
    model.then(ok("Streaming works fine.", expect="stream please"))
    stream = await aclient.chat.completions.create(
        model="daert", messages=[user("stream please")], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) == 3, "the model's tokens arrive as they come, not all at once"
    assert "".join(pieces).strip() == "Streaming works fine."
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 3)


def test_the_assistant_sees_the_earlier_turns_it_is_sent(
    client: openai.OpenAI, model: OpenAIDouble
) -> None:
    model.then(ok("Your name is Ada.", expect="What is my name?"))
    done = client.chat.completions.create(
        model="daert",
        messages=[user("My name is Ada."), assistant("Nice to meet you, Ada."),
                  user("What is my name?")],
    )  # fmt: skip
    assert done.choices[0].message.content == "Your name is Ada."
    sent = [(m["role"], m["content"]) for m in model.chat_requests()[-1]["messages"]]
    assert ("user", "My name is Ada.") in sent
    assert ("assistant", "Nice to meet you, Ada.") in sent
    assert sent.index(("user", "My name is Ada.")) < sent.index(
        ("assistant", "Nice to meet you, Ada.")
    )
    assert "What is my name?" in sent[-1][1]


def test_a_thread_continues_by_header_or_metadata(
    client: openai.OpenAI, model: OpenAIDouble, server: Served
) -> None:
    model.then(
        ok("Noted: blue.", expect="My favourite colour is blue."),
        ok("It is blue.", expect="Which colour did I say?"),
        ok("You asked about colours.", expect="What did I ask before?"),
    )
    first = client.chat.completions.with_raw_response.create(
        model="daert", messages=[user("My favourite colour is blue.")]
    )
    thread_id = first.headers["x-daert-thread-id"]
    second = client.chat.completions.create(
        model="daert", messages=[user("Which colour did I say?")],
        extra_headers={"X-Daert-Thread-Id": thread_id},
    )  # fmt: skip
    assert second.choices[0].message.content == "It is blue."
    assert extra(second)["thread_id"] == thread_id
    sent = [(m["role"], m["content"]) for m in model.chat_requests()[-1]["messages"]]
    assert ("user", "My favourite colour is blue.") in sent
    assert ("assistant", "Noted: blue.") in sent
    third = client.chat.completions.create(
        model="daert", messages=[user("What did I ask before?")],
        metadata={"thread_id": thread_id},
    )  # fmt: skip
    assert extra(third)["thread_id"] == thread_id
    sent = [(m["role"], m["content"]) for m in model.chat_requests()[-1]["messages"]]
    assert ("user", "Which colour did I say?") in sent
    assert [t for t, _ in thread_messages(server, thread_id)] == ["human", "ai"] * 3
    with pytest.raises(openai.ConflictError) as other_graph:
        client.chat.completions.create(
            model="trivial", messages=[user("hi")], extra_headers={"X-Daert-Thread-Id": thread_id}
        )
    assert other_graph.value.code == "thread_graph_mismatch"


def test_a_thread_id_the_client_chooses_is_created_then_continued(
    client: openai.OpenAI, server: Served
) -> None:
    chosen = f"conv-{uuid.uuid4().hex[:8]}"
    headers = {"X-Daert-Thread-Id": chosen}
    client.chat.completions.create(
        model="trivial", messages=[user("a"), assistant("b"), user("c")], extra_headers=headers
    )
    # The thread's history stands: a continued request's earlier messages are not added again.
    client.chat.completions.create(
        model="trivial", messages=[user("ignored"), assistant("x"), user("d")],
        extra_headers=headers,
    )  # fmt: skip
    assert [c for _, c in thread_messages(server, chosen)] == ["a", "b", "c", "c", "d", "d"]


def test_client_mistakes_are_typed_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="no-such-model", messages=[user("hi")])
    assert unknown.value.code == "model_not_found"
    assert unknown.value.type == "invalid_request_error"
    assert "no-such-model" in unknown.value.message
    assert isinstance(unknown.value.body, dict) and "/v1/models" in unknown.value.body["hint"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": []}, "messages_empty"),
        ({"messages": [user("hi")], "n": 2}, "unsupported_option"),
        ({"messages": [user("hi"), assistant("prefill")]}, "last_message_not_user"),
        ({"messages": [user("   ")]}, "empty_question"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "unsupported_role"),
        ({"messages": [user("hi")], "extra_headers": {"X-Daert-Thread-Id": "../etc"}},
         "invalid_thread_id"),
        ({"messages": [user("hi")], "metadata": {"thread_id": "a"},
          "extra_headers": {"X-Daert-Thread-Id": "b"}}, "thread_id_conflict"),
    ]  # fmt: skip
    for kwargs, code in cases:
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="trivial", **kwargs)
        assert bad.value.code == code, kwargs
        assert bad.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"


async def test_a_failed_run_is_an_api_error(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, model: OpenAIDouble
) -> None:
    model.then(fail(500, "scripted outage"), fail(500, "scripted outage again"))
    with pytest.raises(openai.InternalServerError) as whole:
        client.chat.completions.create(model="daert", messages=[user("please fail")])
    assert whole.value.type == "server_error"
    assert whole.value.code == "model_unavailable"
    assert whole.value.response.headers["x-daert-thread-id"]
    stream = await aclient.chat.completions.create(
        model="daert", messages=[user("please fail midway")], stream=True
    )
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as midway:
        async for part in stream:
            seen.append(part)
    assert seen and seen[0].choices[0].delta.role == "assistant"
    assert isinstance(midway.value.body, dict)
    assert midway.value.body["code"] == "model_unavailable"


# Keys last: once one exists, loopback requests need keys too (revoked again at the end).
async def test_another_users_thread_cannot_be_continued(stack: Stack, server: Served) -> None:
    async with contextlib.AsyncExitStack() as exits:
        keys = KeyStore(await open_pool(exits, stack.settings, stack.url("postgres")))
        await keys.setup()
        tag = uuid.uuid4().hex[:8]
        alice_key, alice_secret = await keys.create(f"alice-{tag}@example.com", name="openai")
        bob_key, bob_secret = await keys.create(f"bob-{tag}@example.com", name="openai")
        try:
            base = f"{server.base}/v1"
            alice = openai.AsyncOpenAI(base_url=base, api_key=alice_secret, max_retries=0)
            bob = openai.AsyncOpenAI(base_url=base, api_key=bob_secret, max_retries=0)
            mine = await alice.chat.completions.create(model="trivial", messages=[user("secret")])
            thread_id = extra(mine)["thread_id"]
            attempts: list[dict[str, Any]] = [
                {"extra_headers": {"X-Daert-Thread-Id": thread_id}},
                {"metadata": {"thread_id": thread_id}},
            ]
            for attempt in attempts:
                with pytest.raises(openai.NotFoundError) as refused:
                    await bob.chat.completions.create(
                        model="trivial", messages=[user("let me in")], **attempt
                    )
                assert refused.value.code == "thread_not_found"
            again = await alice.chat.completions.create(
                model="trivial", messages=[user("still mine")],
                extra_headers={"X-Daert-Thread-Id": thread_id},
            )  # fmt: skip
            assert again.choices[0].message.content == "still mine"
            stranger = openai.AsyncOpenAI(
                base_url=base, api_key="dk_00000000_" + "A" * 43, max_retries=0
            )
            with pytest.raises(openai.AuthenticationError) as denied:
                await stranger.models.list()
            assert denied.value.code == "unauthorized"
            assert denied.value.type == "authentication_error"
            for made in (alice, bob, stranger):
                await made.close()
        finally:
            await keys.revoke(alice_key.key_id)
            await keys.revoke(bob_key.key_id)


async def test_the_assistant_over_the_agent_protocol_streams_its_events_and_tokens(
    server: Served, model: OpenAIDouble
) -> None:
    """daert's own assistant through langgraph-sdk: its run events as `custom`, its answer
    as `messages-tuple` chunks, its state with the whole conversation."""
    from langgraph_sdk import get_client

    client = get_client(url=server.base)
    model.script.append(ok("Tea is a drink.", expect="what is tea"))
    thread = await client.threads.create()
    question: Any = {"messages": [{"role": "user", "content": "what is tea"}]}
    parts = [
        p
        async for p in client.runs.stream(
            thread["thread_id"], "daert",
            input=question,
            stream_mode=["custom", "messages-tuple"],
        )
    ]  # fmt: skip
    kinds = [p.data.get("type") for p in parts if p.event == "custom"]
    assert kinds[0] == "route" or "route" in kinds
    assert kinds[-1] == "done"
    tokens = "".join(p.data[0]["content"] for p in parts if p.event == "messages")
    assert tokens.strip() == "Tea is a drink."
    done = next(p.data for p in parts if p.event == "custom" and p.data["type"] == "done")
    assert done["reply"]["text"] == "Tea is a drink."
    state: Any = await client.threads.get_state(thread["thread_id"])
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
