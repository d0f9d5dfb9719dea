"""The assistant's nodes. Each returns a `Command` whose `goto` type names where it may go.

route -> (a node per tool of tools/registry.py)* -> answer [-> summarize]
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from agents.embeddings.known import known_vectors
from core.errors import DaertError
from graphs.assistant import prompts
from graphs.assistant.events import (
    CacheChecked,
    CacheHit,
    MemoryRecalled,
    MemorySaved,
    OutputRef,
    PlannerFailed,
    RouteChosen,
    RunEvent,
    SourcesCited,
    StepChanged,
    Token,
    ToolFinished,
    ToolStarted,
)
from graphs.assistant.state import AssistantState, CacheInfo, Source, ToolCall, ToolResult
from graphs.assistant.turn import TurnContext
from memory.context import message_text, needs_summary, recent, role, self_contained
from memory.longterm import facts_in
from memory.semantic_cache.ports import CacheScope
from memory.summarize import fallback_summary, summarize
from tools.registry import CACHEABLE_TOOLS, KNOWLEDGE_TOOLS, TOOL_NAMES, ToolName

if TYPE_CHECKING:
    from agents.gateway import ModelGateway
    from agents.router.embedding import EmbeddingRouter
    from agents.router.planner import Planner
    from graphs.assistant.tools import Toolbox
    from memory.longterm import UserMemory
    from memory.semantic_cache.ports import CacheHit as CachedAnswer
    from memory.semantic_cache.ports import SemanticCache

log = logging.getLogger("daert.assistant")
CITE = re.compile(r"\[(\d{1,2})\]")
CACHEABLE_ROUTES = frozenset({*CACHEABLE_TOOLS, "chat"})  # "chat": answered without tools


@dataclass(frozen=True)
class AssistantConfig:
    chat_alias: str = "chat"
    summarizer_alias: str = "summarizer"
    system_prompt: str = "You are daert, a helpful assistant."
    max_steps: int = 4
    time_budget: float = 180.0
    history_tokens: int = 1024
    answer_max_tokens: int = 512
    tenant: str = "default"
    cache_ttl: int | None = None


def _ids(config: RunnableConfig) -> tuple[str, str]:
    conf = config.get("configurable", {})
    return str(conf.get("thread_id", "")), str(conf.get("user_id", "anonymous"))


def _emit(event: RunEvent) -> None:
    get_stream_writer()(event)


def collect_sources(results: list[ToolResult]) -> list[Source]:
    """Every source of this turn once, in the order the tools found them."""
    seen: set[tuple[str, str]] = set()
    out: list[Source] = []
    for result in results:
        for source in result["sources"]:
            key = (source["ref"], source["text"][:200])
            if key not in seen:
                seen.add(key)
                out.append(source)
    return out


def cited(answer: str, sources: list[Source]) -> list[Source]:
    """The sources the answer cites by number; all of them when it cites none."""
    numbers = [int(n) for n in CITE.findall(answer)]
    picked = [sources[n - 1] for n in dict.fromkeys(numbers) if 1 <= n <= len(sources)]
    return picked or sources


class Nodes:
    def __init__(
        self,
        gateway: ModelGateway,
        router: EmbeddingRouter,
        toolbox: Toolbox,
        config: AssistantConfig,
        *,
        planner: Planner | None = None,
        cache: SemanticCache | None = None,
        memory: UserMemory | None = None,
    ) -> None:
        self.gateway = gateway
        self.router = router
        self.toolbox = toolbox
        self.config = config
        self.planner = planner
        self.cache = cache
        self.memory = memory

    def scope(self, user: str) -> CacheScope:
        return CacheScope(
            alias=self.config.chat_alias,
            system_prompt=self.config.system_prompt,
            tools=tuple(self.toolbox.available),
            tenant=f"{self.config.tenant}/{user}",
            collection=self.toolbox.collection,
        )

    # --- route ---------------------------------------------------------------------------

    async def route(
        self, state: AssistantState, *, runtime: Runtime[TurnContext]
    ) -> Command[Literal[ToolName, "answer"]]:
        _emit(StepChanged(node="route", status="started"))
        if state.get("steps", 0) == 0:
            command = await self._first_route(state, runtime.context)
        else:
            command = await self._next_route(state, runtime.context)
        _emit(StepChanged(node="route", status="finished"))
        return command

    async def _first_route(self, state: AssistantState, turn: TurnContext) -> Command[Any]:
        """Embed the question (once for the whole turn), remember and recall user facts,
        answer from the cache when it can, else plan the first tool calls."""
        thread_id, user = turn.thread_id, turn.user_id
        question = message_text(state["messages"][-1])
        turn.question = question
        turn.vector = vector = await self.toolbox.embed(question)
        with known_vectors(self.toolbox.embedder, {question: vector}):
            return await self._first_route_with(state, thread_id, user, turn, vector)

    async def _first_route_with(
        self, state: AssistantState, thread_id: str, user: str, turn: TurnContext,
        vector: list[float],
    ) -> Command[Any]:  # fmt: skip
        question = turn.question
        options = state.get("options", {})
        update: dict[str, Any] = {"question": question, "memories": []}
        if self.memory is not None and options.get("memory", True):
            for fact in facts_in(question):
                await self.memory.remember(user, fact)
                _emit(MemorySaved(text=fact))
            update["memories"] = [m.text for m in await self.memory.recall(user, question)]
            if update["memories"]:
                _emit(MemoryRecalled(texts=update["memories"]))
        earlier = sum(1 for m in state["messages"][:-1] if isinstance(m, HumanMessage))
        cache: CacheInfo = {"checked": False, "hit": False}
        if self.cache is None or not options.get("cache", True):
            cache["skipped"] = "cache disabled for this request"
        elif not self_contained(question, earlier):
            cache["skipped"] = "the question depends on the conversation"
        else:
            hit = await self._cached(question, vector, user, cache)
            if hit is not None:
                cache["hit"], cache["similarity"] = True, round(hit.similarity, 4)
                _emit(CacheHit(similarity=hit.similarity, question=hit.question))
                turn.cached_answer = hit.answer
                turn.cached_citations = list(hit.metadata.get("citations", []))
                update |= {"cache": cache, "routes": ["cache"], "plan": []}
                return Command(goto="answer", update=update)
        update["cache"] = cache
        steps, chosen = await self._plan(question, state, thread_id, user, vector)
        routes: list[str] = sorted({c["tool"] for c in steps}) or ["chat"]
        update |= {"routes": routes, "plan": steps, "steps": 1 if steps else 0}
        _emit(chosen.model_copy(update={"routes": routes}))
        if not steps:
            return Command(goto="answer", update=update)
        return Command(goto=[Send(c["tool"], c) for c in steps], update=update)

    async def _cached(
        self, question: str, vector: list[float], user: str, cache: CacheInfo
    ) -> CachedAnswer | None:
        """A cached answer, if any; a cache that is down is skipped, never fatal to the turn."""
        assert self.cache is not None  # noqa: S101 - checked by the caller
        try:
            hit = await self.cache.lookup(question, vector, self.scope(user))
        except DaertError as err:
            log.warning("answering without the cache: %s", err.message)
            cache["skipped"] = f"the cache is unavailable ({err.code})"
            return None
        cache["checked"] = True
        return hit

    async def _plan(
        self,
        question: str,
        state: AssistantState,
        thread_id: str,
        user: str,
        vector: list[float],
    ) -> tuple[list[ToolCall], RouteChosen]:
        """The first tool calls, and who chose them (the planner, else the router)."""
        allowed = set(self.toolbox.available)
        if self.planner is not None:
            try:
                context = state.get("summary", "")
                plan = await self.planner.plan(
                    question, context=context, thread_id=thread_id, user_id=user
                )
                calls = [
                    ToolCall(tool=s.tool, query=s.input, step=1)
                    for s in plan.steps
                    if s.tool in allowed
                ]
                return calls, RouteChosen(routes=[], by="planner")
            except DaertError as err:  # a planner that fails hands over to the router
                _emit(PlannerFailed(code=err.code))
        decision = await self.router.route(question, vector)
        calls = [
            ToolCall(tool=r, query=question, step=1)
            for r in decision.routes
            if r in allowed and r in TOOL_NAMES
        ]
        return calls, RouteChosen(routes=decision.routes, by="router", reason=decision.reason)

    async def _next_route(self, state: AssistantState, turn: TurnContext) -> Command[Any]:
        thread_id, user = turn.thread_id, turn.user_id
        steps = state.get("steps", 0)
        out_of_time = time.time() - state.get("started", time.time()) > self.config.time_budget
        if self.planner is None or steps >= self.config.max_steps or out_of_time:
            return Command(goto="answer")
        results = [f"- {r['tool']}({r['query'][:80]}): {r['summary']}" for r in state["results"]]
        try:
            plan = await self.planner.plan(
                state.get("question", ""), context=state.get("summary", ""),
                results=results, thread_id=thread_id, user_id=user,
            )  # fmt: skip
        except DaertError as err:
            _emit(PlannerFailed(code=err.code))
            return Command(goto="answer")
        allowed = set(self.toolbox.available)
        calls = [ToolCall(tool=s.tool, query=s.input, step=steps + 1)
                 for s in plan.steps if s.tool in allowed]  # fmt: skip
        if plan.done or not calls:
            return Command(goto="answer")
        routes = sorted({*state.get("routes", []), *(c["tool"] for c in calls)})
        _emit(RouteChosen(routes=routes, step=steps + 1, by="planner"))
        return Command(
            goto=[Send(c["tool"], c) for c in calls],
            update={"steps": steps + 1, "routes": routes, "plan": calls},
        )

    # --- tools -------------------------------------------------------------------------

    async def run_tool(
        self, state: ToolCall, *, runtime: Runtime[TurnContext]
    ) -> Command[Literal["route"]]:
        """One tool call. `state` is the ToolCall its Send carries (LangGraph names a node's
        input `state`), not the graph state."""
        call = state
        turn = runtime.context
        thread_id = turn.thread_id
        _emit(ToolStarted(tool=call["tool"], query=call["query"], step=call["step"]))
        known = {turn.question: turn.vector} if turn.vector is not None else {}
        # A tool asked the question itself reuses its vector.
        with known_vectors(self.toolbox.embedder, known):
            result = await self.toolbox.run(call, session=thread_id or "default")
        outputs = [OutputRef(mime=p["mime"], ref=p["ref"]) for p in result.get("parts", [])]
        _emit(ToolFinished(tool=call["tool"], query=call["query"], ok=result["ok"],
                           summary=result["summary"], error=result.get("error"),
                           outputs=outputs))  # fmt: skip
        return Command(goto="route", update={"results": [result]})

    # --- answer ------------------------------------------------------------------------

    async def answer(
        self, state: AssistantState, *, runtime: Runtime[TurnContext]
    ) -> Command[Literal["summarize", "__end__"]]:
        _emit(StepChanged(node="answer", status="started"))
        turn = runtime.context
        thread_id, user = turn.thread_id, turn.user_id
        cache = dict(state.get("cache", {}))
        routes = state.get("routes", [])
        results = state.get("results", [])
        question = state.get("question", "")
        if cache.get("hit"):
            text = turn.cached_answer
            citations = [Source(**c) for c in turn.cached_citations]  # type: ignore[typeddict-item]
            _emit(Token(text=text))
        else:
            sources = collect_sources(results)
            needs_knowledge = bool(routes) and set(routes) <= KNOWLEDGE_TOOLS
            if needs_knowledge and not sources:
                text, citations = prompts.dont_know(routes, results), []
                _emit(Token(text=text))
            else:
                text = await self._generate(state, sources, results, thread_id, user)
                citations = cited(text, sources)
            grounded = routes == ["chat"] or bool(citations)
            if (
                self.cache is not None
                and cache.get("checked")
                and not state.get("memories")  # personal facts change; the cache would not
                and set(routes) <= CACHEABLE_ROUTES
                and grounded
                and text.strip()
                and not text.startswith("I don't know")
            ):
                vector = turn.vector or await self.toolbox.embed(question)
                try:
                    await self.cache.store(
                        question, vector, text, self.scope(user),
                        metadata={"citations": citations}, ttl=self.config.cache_ttl,
                        key=turn.run_id,  # a retried run overwrites its entry, never adds one
                    )  # fmt: skip
                    cache["stored"] = True
                except DaertError as err:  # the answer stands; only its caching is lost
                    log.warning("the answer was not cached: %s", err.message)
        message = AIMessage(content=text, response_metadata={"citations": citations,
                                                             "routes": routes})  # fmt: skip
        _emit(SourcesCited(citations=[dict(c) for c in citations]))
        _emit(CacheChecked(**cache))
        _emit(StepChanged(node="answer", status="finished"))
        update = {"messages": [message], "cache": cache}
        messages = [*state["messages"], message]
        if needs_summary(messages, state.get("summarized", 0), self.config.history_tokens):
            return Command(goto="summarize", update=update)
        return Command(goto="__end__", update=update)

    async def _generate(
        self,
        state: AssistantState,
        sources: list[Source],
        results: list[ToolResult],
        thread_id: str,
        user: str,
    ) -> str:
        system = prompts.system_message(
            self.config.system_prompt, state.get("memories", []), state.get("summary", "")
        )
        history = recent(
            state["messages"][:-1], self.config.history_tokens,
            start=state.get("summarized", 0),
        )  # fmt: skip
        messages = [{"role": "system", "content": system}]
        messages += [{"role": role(m), "content": message_text(m)} for m in history]
        messages.append(
            {"role": "user", "content": prompts.user_turn(state.get("question", ""), sources,
                                                          results)}
        )  # fmt: skip
        pieces: list[str] = []
        async for piece in self.gateway.stream(
            self.config.chat_alias, messages, thread_id=thread_id, user_id=user,
            max_tokens=self.config.answer_max_tokens,
        ):  # fmt: skip
            pieces.append(piece)
            _emit(Token(text=piece))
        return "".join(pieces).strip()

    # --- summarize ---------------------------------------------------------------------

    async def summarize(
        self, state: AssistantState, config: RunnableConfig
    ) -> Command[Literal["__end__"]]:
        _emit(StepChanged(node="summarize", status="started"))
        thread_id, _ = _ids(config)
        messages = state["messages"]
        start = state.get("summarized", 0)
        keep = recent(messages, self.config.history_tokens // 2, start=start)
        cut = len(messages) - len(keep)
        older = messages[start:cut]
        summary = state.get("summary", "")
        if older:
            try:
                summary = await summarize(
                    self.gateway, self.config.summarizer_alias, summary, older,
                    thread_id=thread_id,
                )  # fmt: skip
            except DaertError:
                summary = fallback_summary(summary, older)
        _emit(StepChanged(node="summarize", status="finished"))
        return Command(goto="__end__", update={"summary": summary, "summarized": max(cut, start)})
