"""What an OpenAI client sends and gets back: the request checked, the answers shaped.

Fields that only tune sampling or bookkeeping (`temperature`, `max_tokens`, `user`...) are
accepted and ignored: the assistant's configuration decides them. Fields whose answer this
server cannot give (`n` > 1, client-side `tools`, JSON `response_format`, `logprobs`) are
refused with 400 `unsupported_option`, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError

MAX_MESSAGES = 10_000
ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage, "developer": SystemMessage, "user": HumanMessage,
    "assistant": AIMessage,
}  # fmt: skip


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str = Field(max_length=32)
    content: str | list[Any] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(max_length=MAX_MESSAGES)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, Any] | None = None
    # Refused unless left at what a single plain-text answer means:
    n: int | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None


@dataclass(frozen=True)
class Conversation:
    """A request's messages: the turns before the last one, and the question (the last)."""

    earlier: list[BaseMessage]
    question: str

    def texts(self) -> list[str]:
        return [_text(m.content) for m in self.earlier] + [self.question]


def unsupported(name: str, why: str) -> InputError:
    return InputError(
        f"{name} is not supported by this server: {why}",
        hint=f"leave {name} out",
        code="unsupported_option",
    )


def conversation(request: ChatRequest) -> Conversation:
    """The request's messages as a conversation, or a 400 saying what to change."""
    if request.n is not None and request.n != 1:
        raise unsupported("n", "it answers with one choice")
    if request.tools or request.functions:
        raise unsupported("tools", "the assistant calls its own tools, not the client's")
    if (request.response_format or {}).get("type", "text") != "text":
        raise unsupported("response_format", "answers are plain text")
    if request.logprobs:
        raise unsupported("logprobs", "runs do not report token probabilities")
    if not request.messages:
        raise InputError(
            "messages is empty",
            hint='send at least one: [{"role": "user", "content": "..."}]',
            code="messages_empty",
        )
    messages = [_message(i, m) for i, m in enumerate(request.messages)]
    last = messages[-1]
    if not isinstance(last, HumanMessage):
        raise InputError(
            f"the last message is a {request.messages[-1].role!r} message",
            hint="end messages with the user's message: the assistant answers it",
            code="last_message_not_user",
        )
    question = _text(last.content)
    if not question.strip():
        raise InputError(
            "the last user message is empty", hint="ask something", code="empty_question"
        )
    return Conversation(earlier=messages[:-1], question=question)


def _message(index: int, message: ChatMessage) -> BaseMessage:
    kind = ROLES.get(message.role)
    if kind is None:
        raise InputError(
            f"messages[{index}] has role {message.role[:32]!r}",
            hint=f"use {', '.join(ROLES)}; tool results need client-side tools, which this "
            "server does not take",
            code="unsupported_role",
        )
    content = message.content
    if isinstance(content, list):
        for part in content:
            if not (isinstance(part, Mapping) and part.get("type") == "text"):
                kind_of = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise InputError(
                    f"messages[{index}] has a {str(kind_of)[:32]!r} content part",
                    hint="send text only (a string, or parts of type 'text')",
                    code="unsupported_content",
                )
        content = "\n".join(str(part.get("text", "")) for part in content)
    return kind(content=content or "")


def _text(content: Any) -> str:
    return content if isinstance(content, str) else str(content or "")


def completion(
    completion_id: str,
    model: str,
    created: int,
    text: str,
    *,
    usage: dict[str, int],
    daert: dict[str, Any],
) -> dict[str, Any]:
    """A `chat.completion`, with daert's own `daert` object (clients ignore it)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "daert": daert,
    }


def chunk(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    *,
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `chat.completion.chunk`; `delta` None is the usage chunk (no choices)."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    ]  # fmt: skip
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }


def model_card(model_id: str, created: int, owned_by: str, **daert: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by,
            "daert": daert}  # fmt: skip
