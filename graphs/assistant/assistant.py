"""The assistant as callers see it: ask or stream one turn of a thread, read a thread back.

Every surface (CLI, HTTP APIs, bots, scheduled tasks) goes through `Assistant`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Durability, Overwrite

from core.errors import DaertError, InputError
from graphs.assistant.history import (
    ThreadForbidden,
    ThreadNotFound,
    check_owner,
    check_thread_id,
    read_history,
)
from graphs.assistant.state import CacheInfo, Source
from memory.context import message_text
from memory.longterm import check_user

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph

    from memory.checkpoints import ThreadRegistry


@dataclass
class Reply:
    thread_id: str
    text: str
    citations: list[Source] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    cache: CacheInfo = field(default_factory=CacheInfo)
    tools: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, str]] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Assistant:
    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        *,
        registry: ThreadRegistry | None = None,
        max_steps: int = 4,
        max_question_chars: int = 32_000,
        durability: Durability = "exit",
    ) -> None:
        # "exit": one checkpoint write per turn, not one per step; a turn is short, and a
        # crash mid-turn loses only that turn (its question is not answered either way).
        self.durability: Durability = durability
        self.graph = graph
        self.registry = registry
        self.max_steps = max_steps
        self.max_question_chars = max_question_chars
        self._locks: dict[str, asyncio.Lock] = {}

    def _check(self, question: str, thread_id: str | None, user_id: str) -> str:
        check_user(user_id)
        if not question.strip():
            raise InputError("the question is empty", hint="ask something", code="empty_question")
        if "\x00" in question:  # PostgreSQL stores no NUL in text: refuse it, not crash later
            raise InputError(
                "the question contains a NUL character",
                hint="remove control characters from the question",
                code="question_invalid",
            )
        if len(question) > self.max_question_chars:
            raise InputError(
                f"the question has {len(question)} characters; the limit is "
                f"{self.max_question_chars}",
                hint="ingest long texts with `daert ingest` and ask about them instead",
                code="question_too_long",
            )
        if thread_id is None:
            return uuid.uuid4().hex
        return check_thread_id(thread_id)

    async def _owner_check(self, thread_id: str, user_id: str) -> None:
        await check_owner(self.registry, thread_id, user_id)

    def _config(self, thread_id: str, user_id: str) -> RunnableConfig:
        return {
            "configurable": {"thread_id": thread_id, "user_id": user_id},
            "recursion_limit": 4 * self.max_steps + 10,
        }

    async def stream(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        user_id: str = "local",
        cache: bool = True,
        memory: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of one turn: thread, step, route, tool_call, cache_hit, token..., done."""
        thread_id = self._check(question, thread_id, user_id)
        await self._owner_check(thread_id, user_id)
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            config = self._config(thread_id, user_id)
            turn = {
                "messages": [HumanMessage(content=question)],
                "results": Overwrite([]),
                "steps": 0,
                "started": time.time(),
                "routes": [],
                "plan": [],
                "citations": [],
                "cached_answer": "",
                "cache": {},
                "options": {"cache": cache, "memory": memory},
            }
            yield {"type": "thread", "thread_id": thread_id}
            try:
                async for event in self.graph.astream(
                    turn, config, stream_mode="custom", durability=self.durability
                ):
                    yield event
            except GraphRecursionError as err:
                raise DaertError(
                    "the assistant did not finish within its step limit",
                    hint="raise DAERT_MAX_STEPS, or ask a narrower question",
                    code="step_limit",
                ) from err
            if self.registry is not None:
                await self.registry.touch(thread_id, user_id, question)
            reply = await self._reply(thread_id, user_id)
        if len(self._locks) > 10_000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        yield {"type": "done", "reply": reply.to_dict()}

    async def ask(self, question: str, **options: Any) -> Reply:
        reply: dict[str, Any] | None = None
        async for event in self.stream(question, **options):
            if event["type"] == "done":
                reply = event["reply"]
        assert reply is not None  # noqa: S101 - stream always ends with done
        return Reply(**reply)

    async def _reply(self, thread_id: str, user_id: str) -> Reply:
        values = (await self.graph.aget_state(self._config(thread_id, user_id))).values
        last = values["messages"][-1]
        results = values.get("results", [])
        return Reply(
            thread_id=thread_id,
            text=message_text(last),
            citations=list(values.get("citations", [])),
            routes=list(values.get("routes", [])),
            cache=values.get("cache", {}),
            tools=[
                {k: r.get(k) for k in ("tool", "query", "ok", "summary", "error")} for r in results
            ],
            parts=[p for r in results for p in r.get("parts", [])],
            memories=list(values.get("memories", [])),
        )

    async def history(self, thread_id: str, user_id: str) -> list[dict[str, Any]]:
        """The messages of a thread, oldest first, with each answer's citations."""
        saver = self.graph.checkpointer
        if not isinstance(saver, BaseCheckpointSaver):
            raise DaertError("this assistant keeps no threads", code="no_checkpointer")
        return await read_history(saver, self.registry, thread_id, user_id)


__all__ = ["Assistant", "Reply", "ThreadForbidden", "ThreadNotFound"]
