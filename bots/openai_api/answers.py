"""A run's answer as OpenAI clients see it: text deltas while it runs, then the finished run.

daert's assistant says its answer in its run events (`custom`: `token` pieces, `sources`,
`done` with the reply); any other LangGraph graph says it in AI messages (`messages` chunks
while it runs, the last AI message of its final state after).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bots.runs.served import BUILTIN
from bots.runs.streams import END

if TYPE_CHECKING:
    from bots.runs.records import Run
    from bots.runs.service import RunService
    from bots.runs.streams import StreamEntry

AI_TYPES = ("ai", "AIMessageChunk", "AIMessage")


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    run: Run
    text: str
    citations: list[dict[str, Any]]


@dataclass
class Reader:
    """Folds one run's events into its answer; `modes` are the stream modes it reads."""

    builtin: bool
    pieces: list[str] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def modes(self) -> tuple[str, ...]:
        return ("custom",) if self.builtin else ("messages-tuple",)

    def add(self, entry: StreamEntry) -> str:
        """The answer text this event adds ("" for none)."""
        if self.builtin:
            return self._event(entry)
        if entry.event != "messages" or not isinstance(entry.data, list) or not entry.data:
            return ""
        message = entry.data[0]
        if isinstance(message, Mapping) and message.get("type") in AI_TYPES:
            piece = content_text(message.get("content"))
            self.pieces.append(piece)
            return piece
        return ""

    def _event(self, entry: StreamEntry) -> str:
        data = entry.data if isinstance(entry.data, Mapping) else {}
        if entry.event != "custom":
            return ""
        kind = data.get("type")
        if kind == "token":
            piece = str(data.get("text", ""))
            self.pieces.append(piece)
            return piece
        if kind == "sources":
            self.citations = list(data.get("citations") or [])
        elif kind == "done" and isinstance(data.get("reply"), Mapping):
            self.reply = dict(data["reply"])
            self.citations = list(self.reply.get("citations") or self.citations)
        return ""

    def answer(self, run: Run) -> str:
        """The whole answer: the built-in's reply, or the last AI message of the final state."""
        if self.reply is not None:
            return str(self.reply.get("text", ""))
        text, citations = last_ai_message(run.output)
        self.citations = self.citations or citations
        return text or "".join(self.pieces).strip()


def reader_for(graph_id: str) -> Reader:
    return Reader(builtin=graph_id == BUILTIN)


async def answer(
    runs: RunService, run: Run, reader: Reader
) -> AsyncIterator[Delta | Finished | None]:
    """Deltas as the run produces them (None while it is idle: a heartbeat), then `Finished`.
    A run whose events carried no text but whose final state has an answer gives it as one
    delta, so a streaming client never misses it."""
    async for entry in runs.follow(run.run_id, modes=reader.modes):
        if entry is None:
            yield None
            continue
        if entry.event == END:
            break
        piece = reader.add(entry)
        if piece:
            yield Delta(piece)
    done = await runs.store.get(run.run_id)
    text = reader.answer(done) if done.status == "success" else ""
    if text and not "".join(reader.pieces).strip():
        yield Delta(text)
    yield Finished(done, text, reader.citations)


def content_text(content: Any) -> str:
    """A message's content as text (content blocks: their text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(b.get("text", "")) if isinstance(b, Mapping) else str(b)
            for b in content
            if not isinstance(b, Mapping) or b.get("type", "text") == "text"
        )
    return ""


def last_ai_message(values: Any) -> tuple[str, list[dict[str, Any]]]:
    """The text (and daert citations, if any) of the AI message after the last user message
    in a state's values: this turn's answer, never an earlier turn's."""
    messages = values.get("messages") if isinstance(values, Mapping) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and message.get("type") in ("human", "HumanMessage"):
            break
        if isinstance(message, Mapping) and message.get("type") in AI_TYPES:
            meta = message.get("response_metadata")
            cited = meta.get("citations") if isinstance(meta, Mapping) else None
            return content_text(message.get("content")), list(cited or [])
    return "", []


def thread_texts(values: Any) -> list[str]:
    """The texts of a state's messages before its last AI message (what the answer saw)."""
    messages = values.get("messages") if isinstance(values, Mapping) else None
    found = [m for m in (messages if isinstance(messages, list) else []) if isinstance(m, Mapping)]
    last_ai = max((i for i, m in enumerate(found) if m.get("type") in AI_TYPES), default=None)
    before = found if last_ai is None else found[:last_ai]
    return [content_text(m.get("content")) for m in before]
