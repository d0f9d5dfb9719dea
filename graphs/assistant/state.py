"""The assistant's typed state: what one thread remembers between nodes and between turns.

Everything in it is plain data (dicts, lists, strings), so the PostgreSQL checkpointer stores
it as it is and an old checkpoint reads back after an upgrade.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from tools.registry import ToolName

SourceKind = Literal["chunk", "graph", "web", "code"]


class Source(TypedDict):
    """Something an answer may cite: where it is (path or URL) and what it said."""

    kind: SourceKind
    ref: str  # a file path, a URL, `graph:<entity>` or `code:<session>`
    title: str
    text: str
    score: float


class ToolCall(TypedDict):
    """One planned step: which tool, with what input. Sent to the tool's node."""

    tool: ToolName
    query: str
    step: int


class ToolResult(TypedDict):
    """What a tool gave back. A failure is a result too: the model is told, the run goes on."""

    tool: ToolName
    query: str
    ok: bool
    summary: str  # one line for step events and the planner
    sources: list[Source]
    error: NotRequired[str]
    parts: NotRequired[list[dict[str, str]]]  # rich outputs of code: {mime, ref} (blob store)


class CacheInfo(TypedDict, total=False):
    checked: bool
    hit: bool
    similarity: float
    stored: bool
    skipped: str  # why the turn was not cacheable


def add_results(old: list[ToolResult], new: list[ToolResult]) -> list[ToolResult]:
    """Tool results of one turn accumulate; a new turn overwrites them (`Overwrite([])`)."""
    return [*old, *new]


class AssistantState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    question: NotRequired[str]
    routes: NotRequired[list[str]]  # what the router / planner chose this turn
    plan: NotRequired[list[ToolCall]]
    results: Annotated[list[ToolResult], add_results]
    summary: NotRequired[str]  # running summary of turns no longer sent verbatim
    summarized: NotRequired[int]  # how many leading messages the summary covers
    steps: NotRequired[int]
    started: NotRequired[float]  # time.time() the turn began (the time budget)
    cache: NotRequired[CacheInfo]
    memories: NotRequired[list[str]]  # user facts recalled for this turn
    options: NotRequired[dict[str, Any]]  # per-turn request options (cache opt-out, ...)
