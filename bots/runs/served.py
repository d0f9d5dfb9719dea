"""The graphs a server serves: daert's own assistant and any compiled LangGraph graph.

Both stream `(mode, JSON)` pairs for the run machinery, and both are compiled graphs with the
server's checkpointer, so thread state, history and updates go through LangGraph itself.
A graph brought by import path (`module:attr`) is served as it is, with the server's
checkpointer and store attached.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import BaseModel

from core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.store.base import BaseStore
    from langgraph.types import Durability, StreamMode

    from graphs.assistant.assistant import Assistant

# Stream modes a client may ask for, and the LangGraph mode that feeds each.
LANGGRAPH_MODES = {
    "values": "values",
    "updates": "updates",
    "custom": "custom",
    "messages-tuple": "messages",
    "messages": "messages",
    "debug": "debug",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
}
BUILTIN = "daert"


def check_modes(modes: str | Sequence[str] | None) -> tuple[str, ...]:
    wanted = (modes,) if isinstance(modes, str) else tuple(modes or ("values",))
    unknown = [m for m in wanted if m not in LANGGRAPH_MODES]
    if unknown:
        raise InputError(
            f"unknown stream_mode {unknown[0][:32]!r}",
            hint=f"use any of: {', '.join(LANGGRAPH_MODES)}",
            code="invalid_stream_mode",
        )
    return tuple(dict.fromkeys(wanted))


def to_json(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """A graph's state or chunk as plain JSON (messages, pydantic models, dataclasses...)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    to_dict = getattr(value, "to_json", None)
    return str(value) if to_dict is None else to_json(to_dict())


def question_of(value: Any) -> str:
    """The user's question in an Agent-Protocol input: `{"messages": [...]}` (the last user
    message, OpenAI or LangChain style), `{"question": ...}`, or a plain string."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if isinstance(value.get("question"), str):
            return str(value["question"])
        messages = value.get("messages")
        if isinstance(messages, str):
            return messages
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, str):
                    return message
                if isinstance(message, Mapping) and (
                    message.get("role") in ("user", "human") or message.get("type") == "human"
                ):
                    return _text(message.get("content"))
    raise InputError(
        "the input has no user message",
        hint='send {"messages": [{"role": "user", "content": "..."}]}',
        code="invalid_input",
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text ones
        return "\n".join(
            str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in content
        )
    return "" if content is None else str(content)


@dataclasses.dataclass(frozen=True)
class Turn:
    """One run as a served graph executes it."""

    run_id: str
    thread_id: str
    user_id: str
    input: Any
    command: dict[str, Any] | None
    config: dict[str, Any]
    context: dict[str, Any]
    modes: tuple[str, ...]
    temporary: bool = False  # a stateless run: its thread is dropped after it
    durability: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    """A graph's state as LangGraph streamed it, not yet JSON: a run keeps only some."""

    value: Any


class ServedGraph(Protocol):
    graph_id: str
    description: str
    # Whether a stateless run leaves checkpoints behind (to delete): a graph that keeps its
    # own thread records does; a plain graph runs stateless without a checkpointer at all.
    leaves_state: bool

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]: ...

    def stream(self, turn: Turn) -> AsyncIterator[tuple[str, Any]]:
        """`(event, JSON)` pairs: `values` (as a `State`), `updates`, `messages`, `custom`...
        (more than the turn asked for is fine: the executor keeps what the run asked for, and
        the last `values` as the run's output)."""
        ...


def thread_config(thread_id: str, user_id: str, extra: Mapping[str, Any] | None = None) -> Any:
    configurable = {**dict((extra or {}).get("configurable") or {})}
    configurable.update(thread_id=thread_id, user_id=user_id)
    return {**dict(extra or {}), "configurable": configurable}


class LangGraphGraph:
    """Any compiled LangGraph graph, with the server's checkpointer and store (and, for
    stateless runs, without a checkpointer: nothing to write, nothing to delete after)."""

    leaves_state = False

    def __init__(
        self,
        graph_id: str,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        *,
        description: str = "",
    ) -> None:
        self.graph_id = graph_id
        self.description = description or f"the LangGraph graph {graph_id}"
        self._graph = graph
        self._bare = graph.copy(update={"checkpointer": None})

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        return self._graph

    async def stream(self, turn: Turn) -> AsyncIterator[tuple[str, Any]]:
        from langgraph.types import Command  # noqa: PLC0415

        config = thread_config(turn.thread_id, turn.user_id, turn.config)
        config["configurable"]["run_id"] = turn.run_id
        config.setdefault("metadata", {})["run_id"] = turn.run_id
        # `values` always: its last chunk is the run's output (no state read after the run)
        modes = list(dict.fromkeys(["values", *(LANGGRAPH_MODES[m] for m in turn.modes)]))
        payload: Any = Command(**turn.command) if turn.command else turn.input
        graph = self._bare if turn.temporary else self.graph
        # A checkpoint per step by default, as LangGraph's server does: an interrupted run
        # keeps what it had done; "exit" (one per run) is cheaper when a client asks for it.
        durability = cast("Durability", turn.durability or "async")
        options: dict[str, Any] = {} if turn.temporary else {"durability": durability}
        async for mode, chunk in graph.astream(
            payload,
            config,
            stream_mode=cast("list[StreamMode]", modes),
            context=turn.context or None,
            **options,
        ):
            if mode == "messages":
                message, meta = cast("tuple[Any, Any]", chunk)
                yield "messages", [to_json(message), to_json(meta)]
            elif mode == "values":  # turned into JSON only if kept (the last one always is)
                yield "values", State(chunk)
            else:
                yield str(mode), to_json(chunk)


class AssistantGraph:
    """daert's assistant: a question in; its typed run events (always, as `custom`: every
    surface renders them) and the LangGraph modes the client asked for out."""

    graph_id = BUILTIN
    leaves_state = True
    description = (
        "daert's assistant: routes between retrieval, the knowledge graph, web search and "
        "sandboxed code, with memory and a semantic cache"
    )

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        return self.assistant.graph

    async def stream(self, turn: Turn) -> AsyncIterator[tuple[str, Any]]:
        question = question_of(turn.input)
        options = {**dict(turn.config.get("configurable") or {}), **turn.context}
        modes = [LANGGRAPH_MODES[m] for m in turn.modes if m != "custom"]
        tuples = "messages" in modes
        async for mode, part in self.assistant.stream_parts(
            question,
            thread_id=turn.thread_id,
            user_id=turn.user_id,
            cache=bool(options.get("cache", True)),
            memory=bool(options.get("memory", True)),
            modes=[m for m in dict.fromkeys(modes) if m != "messages"],  # type: ignore[misc]
            run_id=turn.run_id,
        ):
            if mode != "events":  # LangGraph's own modes
                yield mode, State(part) if mode == "values" else to_json(part)
                continue
            event = part.model_dump(mode="json")
            yield "custom", event
            if tuples and event["type"] == "token":
                chunk = {"type": "AIMessageChunk", "content": event["text"],
                         "id": f"run-{turn.run_id}"}  # fmt: skip
                yield "messages", [chunk, {"langgraph_node": "answer", "run_id": turn.run_id}]


def load_graph(
    spec: str, checkpointer: BaseCheckpointSaver[Any], store: BaseStore | None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """`module:attr` → a compiled graph with the server's checkpointer (a `StateGraph` is
    compiled here; a compiled graph is copied with them attached)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"graph {spec!r} is not an import path",
            hint="write it as module.path:attribute, e.g. my_agent.graph:graph",
            code="graph_spec_invalid",
        )
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            f"cannot import graph {spec!r}: {err}",
            hint="check DAERT_GRAPHS and that the module is importable from the server",
            code="graph_import_failed",
        ) from err
    from langgraph.graph import StateGraph  # noqa: PLC0415
    from langgraph.pregel import Pregel  # noqa: PLC0415

    if isinstance(target, StateGraph):
        return target.compile(checkpointer=checkpointer, store=store)
    if isinstance(target, Pregel):
        return target.copy(update={"checkpointer": checkpointer, "store": store})  # type: ignore[return-value]
    raise ConfigError(
        f"{spec!r} is a {type(target).__name__}, not a LangGraph graph",
        hint="point it at a StateGraph or a compiled graph",
        code="graph_spec_invalid",
    )
