"""The one vocabulary of run events: what a run says while it runs, for every surface.

The graph emits these (through LangGraph's custom stream), `Assistant.stream` yields them,
and each surface renders them: the CLI today; SSE, OpenAI chunks, Slack message updates and
Telegram drafts next. Each event is a small pydantic model with a literal `type`, so it
serializes to the same JSON everywhere (`event.model_dump(mode="json")`) and parses back
with `parse_event`. The reply of a turn is built from its events (`ReplyBuilder`), never by
reading the checkpoint back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class BaseEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunStarted(BaseEvent):
    """First event of a turn: the thread it belongs to (new when the caller gave none)."""

    type: Literal["run_started"] = "run_started"
    thread_id: str


class RouteChosen(BaseEvent):
    """Where the turn goes next: tools (in parallel) or `chat`; `by` says who decided."""

    type: Literal["route"] = "route"
    routes: list[str]
    step: int = 1
    by: Literal["router", "planner"] = "router"
    reason: str = ""


class PlannerFailed(BaseEvent):
    """The planner could not plan; the embedding router (or the answer) takes over."""

    type: Literal["planner_failed"] = "planner_failed"
    code: str


class ToolStarted(BaseEvent):
    type: Literal["tool_started"] = "tool_started"
    tool: str
    query: str
    step: int = 1


class OutputRef(BaseEvent):
    """A rich output of a tool (an image, a table) stored once in the blob store."""

    mime: str
    ref: str  # `blob:<sha256>`, read back with `BlobStore.get`


class ToolFinished(BaseEvent):
    type: Literal["tool_finished"] = "tool_finished"
    tool: str
    query: str
    ok: bool
    summary: str
    error: str | None = None
    outputs: list[OutputRef] = Field(default_factory=list)


class CacheHit(BaseEvent):
    type: Literal["cache_hit"] = "cache_hit"
    similarity: float
    question: str


class MemorySaved(BaseEvent):
    type: Literal["memory_saved"] = "memory_saved"
    text: str


class MemoryRecalled(BaseEvent):
    type: Literal["memory_recalled"] = "memory_recalled"
    texts: list[str]


class Token(BaseEvent):
    """A piece of the answer, in order; the pieces joined are the answer."""

    type: Literal["token"] = "token"
    text: str


class SourcesCited(BaseEvent):
    """The sources the answer cites, numbered as the answer numbers them."""

    type: Literal["sources"] = "sources"
    citations: list[dict[str, Any]]


class CacheChecked(BaseEvent):
    """What the semantic cache did this turn: looked up, hit, stored, or why it was skipped."""

    type: Literal["cache"] = "cache"
    checked: bool = False
    hit: bool = False
    similarity: float | None = None
    stored: bool = False
    skipped: str = ""


class StepChanged(BaseEvent):
    """A node of the graph started or finished (for progress displays)."""

    type: Literal["step"] = "step"
    node: str
    status: Literal["started", "finished"]


class RunFailed(BaseEvent):
    type: Literal["error"] = "error"
    code: str
    message: str
    hint: str = ""


class Reply(BaseModel):
    """What a turn produced, as the `done` event carries it."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str
    text: str
    citations: list[dict[str, Any]] = Field(default_factory=list)
    routes: list[str] = Field(default_factory=list)
    cache: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    outputs: list[OutputRef] = Field(default_factory=list)
    memories: list[str] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RunDone(BaseEvent):
    """Last event of a turn that succeeded."""

    type: Literal["done"] = "done"
    reply: Reply


RunEvent = Annotated[
    RunStarted | RouteChosen | PlannerFailed | ToolStarted | ToolFinished | CacheHit
    | MemorySaved | MemoryRecalled | Token | SourcesCited | CacheChecked | StepChanged
    | RunFailed | RunDone,
    Field(discriminator="type"),
]  # fmt: skip
_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> RunEvent:
    """An event from its JSON (a dict, or the text a stream carried)."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)


class ReplyBuilder:
    """Folds a turn's events into its `Reply`."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self._pieces: list[str] = []
        self._citations: list[dict[str, Any]] = []
        self._routes: list[str] = []
        self._cache: dict[str, Any] = {}
        self._tools: list[dict[str, Any]] = []
        self._outputs: list[OutputRef] = []
        self._memories: list[str] = []

    def add(self, event: BaseEvent) -> None:
        match event:
            case Token(text=text):
                self._pieces.append(text)
            case RouteChosen(routes=routes):
                self._routes = list(routes)
            case CacheHit():
                self._routes = ["cache"]
            case SourcesCited(citations=citations):
                self._citations = list(citations)
            case CacheChecked():
                self._cache = event.model_dump(exclude={"type"}, exclude_defaults=True)
                self._cache.setdefault("checked", event.checked)
                self._cache.setdefault("hit", event.hit)
            case ToolFinished():
                self._tools.append(event.model_dump(include={"tool", "query", "ok", "summary",
                                                             "error"}))  # fmt: skip
                self._outputs += event.outputs
            case MemoryRecalled(texts=texts):
                self._memories = list(texts)
            case _:
                pass

    def reply(self) -> Reply:
        return Reply(
            thread_id=self.thread_id, text="".join(self._pieces).strip(),
            citations=self._citations, routes=self._routes, cache=self._cache,
            tools=self._tools, outputs=self._outputs, memories=self._memories,
        )  # fmt: skip
