"""Structured output: a pydantic model out of any alias, valid or a typed error.

Hosted models get a strict JSON-schema response format. Local llama.cpp models are constrained
while they decode: either a GBNF grammar sent to the llama.cpp server, or guidance running the
same GGUF in-process. The answer is validated with pydantic; one repair round follows a bad one.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agents.gateway.deployments import Deployment
from agents.gateway.errors import ModelError, ModelUnavailable, StructuredOutputError
from agents.gateway.gateway import Message, ModelGateway
from core.deployments import LOCAL_MODEL


def _each_object(node: Any, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply `change` to every JSON object in a schema, depth first."""
    if isinstance(node, dict):
        change(node)
        for value in node.values():
            _each_object(value, change)
    elif isinstance(node, list):
        for value in node:
            _each_object(value, change)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every object closed and every property required."""
    schema = copy.deepcopy(model.model_json_schema())

    def close(node: dict[str, Any]) -> None:
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])

    _each_object(schema, close)
    return schema


# Length bounds become one nested rule per character in a GBNF grammar; llama.cpp recurses
# through them and a large bound (maxLength 20000) overflows its stack and kills the server.
MAX_GRAMMAR_BOUND = 64


def grammar_safe(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without length/size bounds too large for a grammar (pydantic still checks)."""
    safe = copy.deepcopy(schema)

    def drop(node: dict[str, Any]) -> None:
        for key in ("maxLength", "minLength", "maxItems", "minItems"):
            if isinstance(node.get(key), int) and node[key] > MAX_GRAMMAR_BOUND:
                del node[key]

    _each_object(safe, drop)
    return safe


def gbnf(schema: dict[str, Any]) -> str:
    """A llama.cpp grammar for the schema (the converter ships with llama-cpp-python)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # noqa: PLC0415 - embedded extra

    grammar: str = json_schema_to_gbnf(json.dumps(grammar_safe(schema)))
    return grammar


class GuidanceRunner:
    """Runs a local GGUF in-process under guidance, which forces output to match a schema."""

    def __init__(self, gguf: Path, context: int = 2048) -> None:
        self.gguf = gguf
        self.context = context
        self._model: Any = None
        self._lock = threading.Lock()

    def generate(self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int) -> str:
        import guidance  # noqa: PLC0415 - heavy, loaded on first structured call

        with self._lock:  # one llama context; calls take turns
            if self._model is None:
                self._model = guidance.models.LlamaCpp(
                    str(self.gguf), n_ctx=self.context, echo=False, verbose=False
                )
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
            result = (
                self._model
                + prompt
                + guidance.json(name="answer", schema=schema, max_tokens=max_tokens)
            )
            return str(result["answer"])


def _instruction(schema: dict[str, Any]) -> Message:
    return {
        "role": "user",
        "content": "Reply with only a JSON object that matches this JSON schema:\n"
        + json.dumps(schema),
    }


async def _ask(
    gateway: ModelGateway,
    deployment: Deployment,
    messages: list[Message],
    schema: dict[str, Any],
    name: str,
    *,
    guidance_runner: GuidanceRunner | None,
    max_tokens: int,
    thread_id: str | None,
    user_id: str | None,
) -> str:
    if deployment.kind == "llamacpp" and guidance_runner and deployment.spec.model == LOCAL_MODEL:
        return await asyncio.to_thread(guidance_runner.generate, messages, schema, max_tokens)
    params: dict[str, Any]
    if deployment.kind == "llamacpp":
        params = {"extra_body": {"grammar": gbnf(schema)}}
    else:
        params = {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        }
    done = await gateway.complete(
        deployment.alias,
        messages,
        group=deployment.group,
        max_tokens=max_tokens,
        temperature=0,
        thread_id=thread_id,
        user_id=user_id,
        **params,
    )
    return done.text


async def structured[T: BaseModel](
    gateway: ModelGateway,
    alias: str,
    messages: Sequence[Message],
    output: type[T],
    *,
    guidance_runner: GuidanceRunner | None = None,
    max_tokens: int = 512,
    thread_id: str | None = None,
    user_id: str | None = None,
) -> T:
    """Ask `alias` for an `output`; try its deployments in order while failures are retryable."""
    gateway.entry(alias)  # unknown alias / nothing callable: typed errors
    schema = strict_schema(output)
    last: ModelError | None = None
    for deployment in (d for d in gateway.deployments[alias] if d.available):
        conversation = [*messages, _instruction(schema)]
        try:
            for attempt in (1, 2):
                text = await _ask(
                    gateway, deployment, conversation, schema, output.__name__,
                    guidance_runner=guidance_runner, max_tokens=max_tokens,
                    thread_id=thread_id, user_id=user_id,
                )  # fmt: skip
                try:
                    return output.model_validate_json(text)
                except ValidationError as err:
                    if attempt == 2:
                        raise StructuredOutputError(
                            f"{deployment.label} answered {output.__name__} JSON that is not "
                            f"valid after a repair attempt: {err.errors()[0]['msg']}",
                            hint="use a more capable model for this alias, or simplify the schema",
                        ) from err
                    conversation += [
                        {"role": "assistant", "content": text},
                        {
                            "role": "user",
                            "content": f"That was not valid ({err.errors()[0]['msg']}). "
                            "Reply with only the corrected JSON.",
                        },
                    ]
        except ModelError as err:
            if not err.retryable:
                raise
            last = err
    raise last or ModelUnavailable(
        f"no deployment of {alias!r} answered", hint="see `daert models`"
    )
