"""The assistant as callers see it: ask or stream one turn of a thread, read a thread back.

Every surface (CLI, HTTP APIs, bots, scheduled tasks) goes through `Assistant`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Durability, Overwrite, StreamMode

from core.errors import DaertError, InputError
from graphs.assistant.events import (
    BaseEvent,
    Reply,
    ReplyBuilder,
    RunDone,
    RunEvent,
    RunFailed,
    RunStarted,
)
from graphs.assistant.history import (
    ThreadForbidden,
    ThreadNotFound,
    check_owner,
    check_thread_id,
    read_history,
)
from graphs.assistant.turn import TurnContext
from memory.longterm import check_user

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph

    from memory.checkpoints import ThreadRegistry


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
    ) -> AsyncIterator[RunEvent]:
        """The events of one turn: `run_started` first, `done` (with the reply) last."""
        async for mode, part in self.stream_parts(
            question, thread_id=thread_id, user_id=user_id, cache=cache, memory=memory
        ):
            if mode == "events":
                yield part

    async def stream_parts(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        user_id: str = "local",
        cache: bool = True,
        memory: bool = True,
        modes: Sequence[StreamMode] = (),
        run_id: str | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """One turn as `("events", RunEvent)` pairs, plus LangGraph's own stream `modes`
        (`values`, `updates`, ...) as `(mode, chunk)` for servers that pass them on.
        `run_id` marks the turn's checkpoints, so a rolled-back run's state can be found."""
        thread_id = self._check(question, thread_id, user_id)
        await self._owner_check(thread_id, user_id)
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            config = self._config(thread_id, user_id)
            if run_id is not None:
                config["configurable"]["run_id"] = run_id
                config["metadata"] = {"run_id": run_id}
            turn = {
                "messages": [HumanMessage(content=question)],
                "results": Overwrite([]),
                "steps": 0,
                "started": time.time(),
                "routes": [],
                "plan": [],
                "cache": {},
                "options": {"cache": cache, "memory": memory},
            }
            context = TurnContext(
                thread_id=thread_id, user_id=user_id, question=question, run_id=run_id
            )
            builder = ReplyBuilder(thread_id)
            wanted: list[StreamMode] = ["custom", *(m for m in modes if m != "custom")]
            yield "events", RunStarted(thread_id=thread_id)
            try:
                async for mode, chunk in self.graph.astream(
                    turn, config, context=context, stream_mode=wanted,
                    durability=self.durability,
                ):  # fmt: skip
                    if mode != "custom":
                        yield mode, chunk
                    elif isinstance(chunk, BaseEvent):  # the nodes write only these
                        builder.add(chunk)
                        yield "events", cast("RunEvent", chunk)
            except GraphRecursionError as err:
                failure = DaertError(
                    "the assistant did not finish within its step limit",
                    hint="raise DAERT_MAX_STEPS, or ask a narrower question",
                    code="step_limit",
                )
                yield (
                    "events",
                    RunFailed(code=failure.code, message=failure.message, hint=failure.hint),
                )
                raise failure from err
            except DaertError as err:  # said as an event (surfaces that stream), then raised
                yield "events", RunFailed(code=err.code, message=err.message, hint=err.hint)
                raise
            if self.registry is not None:
                await self.registry.touch(thread_id, user_id, question)
        if len(self._locks) > 10_000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        yield "events", RunDone(reply=builder.reply())

    async def ask(self, question: str, **options: Any) -> Reply:
        """One turn, its reply only."""
        async for event in self.stream(question, **options):
            if isinstance(event, RunDone):
                return event.reply
        raise AssertionError("a turn always ends with `done`")  # pragma: no cover

    async def history(self, thread_id: str, user_id: str) -> list[dict[str, Any]]:
        """The messages of a thread, oldest first, with each answer's citations."""
        saver = self.graph.checkpointer
        if not isinstance(saver, BaseCheckpointSaver):
            raise DaertError("this assistant keeps no threads", code="no_checkpointer")
        return await read_history(saver, self.registry, thread_id, user_id)


__all__ = ["Assistant", "Reply", "ThreadForbidden", "ThreadNotFound"]
