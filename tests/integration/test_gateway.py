"""The gateway through real LiteLLM against a local OpenAI double; usage in real PostgreSQL."""

from __future__ import annotations

import os
from typing import Any, Literal

import psycopg
import pytest
from pydantic import BaseModel, ConfigDict

from agents.embeddings.hosted import LiteLLMEmbedder
from agents.gateway import ModelGateway, resolve, structured
from agents.gateway.errors import (
    ContextTooLong,
    MissingModelKey,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    StructuredOutputError,
    UnknownAlias,
)
from agents.gateway.usage import ModelCall, PostgresUsageStore
from agents.testing.openai_double import OpenAIDouble, fail, ok, slow
from core.deployments import DeploymentSpec
from core.errors import ServiceError
from core.net import free_port
from tests.conftest import Stack

HI = [{"role": "user", "content": "hi"}]


def spec(url: str, **kw: Any) -> DeploymentSpec:
    return DeploymentSpec(model="openai/double", api_base=url, **kw)


class Usage:
    """The real usage store on the embedded PostgreSQL, read back for one test's calls."""

    def __init__(self, store: PostgresUsageStore, after: int) -> None:
        self.store = store
        self.after = after

    async def calls(self) -> list[ModelCall]:
        async with await psycopg.AsyncConnection.connect(str(self.store.target)) as conn:
            rows = await (
                await conn.execute(
                    "SELECT alias, deployment, model, prompt_tokens, completion_tokens, cost_usd, "
                    "latency_ms, ok, error_code, streamed, thread_id, user_id, at "
                    "FROM model_calls WHERE id > %s ORDER BY at, id",  # written in the background
                    (self.after,),
                )
            ).fetchall()
        return [ModelCall(*row) for row in rows]


@pytest.fixture
async def usage(stack: Stack) -> Usage:
    store = PostgresUsageStore(stack.url("postgres"))
    await store.setup()
    async with await psycopg.AsyncConnection.connect(stack.url("postgres")) as conn:
        row = await (await conn.execute("SELECT coalesce(max(id), 0) FROM model_calls")).fetchone()
    assert row is not None
    return Usage(store, int(row[0]))


def gateway(models: dict[str, list[DeploymentSpec]], **kw: Any) -> ModelGateway:
    kw.setdefault("retries", 0)
    return ModelGateway(resolve(models, local_url=None, default_timeout=5, env=os.environ), **kw)


@pytest.mark.slow
async def test_answer_tokens_and_usage(usage: Usage) -> None:
    with OpenAIDouble(default=ok("four")) as double:
        gw = gateway({"chat": [spec(double.url)]}, usage=usage.store)
        done = await gw.complete("chat", HI, thread_id="t1", user_id="u1")
        await gw.flush()
    assert done.text == "four"
    assert (done.prompt_tokens, done.completion_tokens) == (7, 3)
    assert done.deployment == "chat#0"
    assert double.requests[0]["body"]["messages"] == HI
    [call] = await usage.calls()
    assert call.ok and call.thread_id == "t1" and call.user_id == "u1" and call.latency_ms > 0


async def test_retry_stays_on_the_deployment() -> None:
    with OpenAIDouble().then(fail(500)) as double:
        done = await gateway({"chat": [spec(double.url)]}, retries=1).complete("chat", HI)
    assert done.text == "hello from the double"
    assert len(double.requests) == 2


async def test_fallback_to_the_next_deployment_in_order() -> None:
    with OpenAIDouble(default=fail(500)) as broken, OpenAIDouble(default=ok("backup")) as backup:
        gw = gateway({"chat": [spec(broken.url), spec(backup.url)]})
        done = await gw.complete("chat", HI)
    assert done.text == "backup"
    assert done.deployment == "chat#1"
    assert len(broken.requests) == 1


async def test_cooldown_takes_a_failing_deployment_out() -> None:
    with OpenAIDouble(default=fail(503)) as broken, OpenAIDouble(default=ok("backup")) as backup:
        gw = gateway({"chat": [spec(broken.url), spec(backup.url)]}, allowed_fails=1, cooldown=60)
        for _ in range(5):
            assert (await gw.complete("chat", HI)).text == "backup"
    assert len(broken.requests) < 5, "the broken deployment kept being called"
    assert len(backup.requests) == 5


@pytest.mark.parametrize(
    ("reply", "error"),
    [(fail(429), ModelRateLimited), (fail(500), ModelUnavailable), (fail(503), ModelUnavailable)],
)
@pytest.mark.slow
async def test_upstream_failures_become_typed_retryable_errors(
    reply: Any, error: type[Exception], usage: Usage
) -> None:
    with OpenAIDouble(default=reply) as double:
        gw = gateway({"chat": [spec(double.url)]}, usage=usage.store)
        with pytest.raises(error) as caught:
            await gw.complete("chat", HI)
        await gw.flush()
    assert caught.value.retryable  # type: ignore[attr-defined]
    assert caught.value.hint  # type: ignore[attr-defined]
    [call] = await usage.calls()
    assert call.ok is False and call.error_code


async def test_timeout_is_typed_and_does_not_hang() -> None:
    with OpenAIDouble(default=slow(5)) as double:
        gw = gateway({"chat": [spec(double.url, timeout=0.5)]})
        with pytest.raises(ModelTimeout) as caught:
            await gw.complete("chat", HI)
    assert caught.value.retryable


async def test_unreachable_server() -> None:
    gw = gateway({"chat": [spec(f"http://127.0.0.1:{free_port()}/v1")]})
    with pytest.raises(ModelUnavailable) as caught:
        await gw.complete("chat", HI)
    assert "daert models" in caught.value.hint


async def test_context_overflow_is_a_client_error() -> None:
    message = "This model's maximum context length is 4096 tokens. However, you requested 9000."
    with (
        OpenAIDouble(default=fail(400, message)) as double,
        pytest.raises(ContextTooLong) as caught,
    ):
        await gateway({"chat": [spec(double.url)]}).complete("chat", HI)
    assert caught.value.http_status == 413


async def test_unknown_alias_and_missing_key() -> None:
    with OpenAIDouble() as double:
        gw = gateway({"chat": [spec(double.url)]})
        with pytest.raises(UnknownAlias, match="chat"):
            await gw.complete("chatt", HI)
    os.environ.pop("DAERT_TEST_MISSING_KEY", None)
    with pytest.raises(MissingModelKey) as caught:
        gateway(
            {
                "chat": [
                    DeploymentSpec(model="openai/gpt-4o-mini", api_key_env="DAERT_TEST_MISSING_KEY")
                ]
            }
        )
    assert "DAERT_TEST_MISSING_KEY" in caught.value.message
    with pytest.raises(MissingModelKey):  # a hosted provider without its standard variable
        gateway(
            {"chat": [DeploymentSpec(model="anthropic/claude-3-5-haiku-latest")]},
        )


@pytest.mark.slow
async def test_streaming_yields_text_and_records_usage(usage: Usage) -> None:
    with OpenAIDouble(default=ok("one two three")) as double:
        gw = gateway({"chat": [spec(double.url)]}, usage=usage.store)
        pieces = [p async for p in gw.stream("chat", HI, user_id="u")]
        await gw.flush()
    assert len(pieces) == 3
    assert "".join(pieces).split() == ["one", "two", "three"]
    [call] = await usage.calls()
    assert call.streamed and call.completion_tokens == 3 and call.user_id == "u"


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Literal["yes", "no"]
    confidence: int


async def test_structured_output_with_json_schema_and_one_repair() -> None:
    with OpenAIDouble().then(ok("not json"), ok('{"label": "yes", "confidence": 80}')) as double:
        verdict = await structured(gateway({"judge": [spec(double.url)]}), "judge", HI, Verdict)
    assert verdict == Verdict(label="yes", confidence=80)
    first = double.requests[0]["body"]
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
    assert len(double.requests) == 2  # the repair round


async def test_structured_output_gives_up_with_a_typed_error() -> None:
    with (
        OpenAIDouble(default=ok('{"label": "maybe"}')) as double,
        pytest.raises(StructuredOutputError) as caught,
    ):
        await structured(gateway({"judge": [spec(double.url)]}), "judge", HI, Verdict)
    assert caught.value.code == "model_output_invalid"
    assert len(double.requests) == 2


async def test_hosted_embedder_checks_the_dimension() -> None:
    with OpenAIDouble() as double:
        embedder = LiteLLMEmbedder("openai/double-embed", 3, api_base=double.url, api_key="x")
        vectors = await embedder.embed(["ab", "abcd"])
        assert vectors == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]
        wrong = LiteLLMEmbedder("openai/double-embed", 4, api_base=double.url, api_key="x")
        with pytest.raises(ServiceError) as caught:
            await wrong.embed(["x"])
    assert caught.value.code == "embedder_dimension_mismatch"


@pytest.mark.slow
async def test_cost_comes_from_the_local_cost_map_or_the_deployment(usage: Usage) -> None:
    with OpenAIDouble() as double:
        known = DeploymentSpec(model="openai/gpt-4o-mini", api_base=double.url)
        priced = spec(double.url, input_cost_per_token=0.001, output_cost_per_token=0.002)
        gw = gateway({"chat": [known], "own": [priced]}, usage=usage.store)
        mapped = await gw.complete("chat", HI)
        own = await gw.complete("own", HI)
        await gw.flush()
    assert mapped.cost_usd is not None and 0 < mapped.cost_usd < 0.001
    assert own.cost_usd == pytest.approx(7 * 0.001 + 3 * 0.002)
    assert [c.cost_usd for c in await usage.calls()] == [mapped.cost_usd, own.cost_usd]


def test_litellm_import_makes_no_network_call() -> None:
    import subprocess
    import sys

    code = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('network call at import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from agents.gateway.gateway import _litellm\n"
        "print(len(_litellm().model_cost) > 100)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
