"""A chat completion's reply from its run: one `chat.completion`, or a stream of chunks.

Both carry daert's own `daert` object (`thread_id`, `run_id`, `citations`, and where the usage
came from); in a stream the first chunk has the ids and the finishing chunk all of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bots.openai_api.answers import Delta, Finished, Reader, answer, thread_texts
from bots.openai_api.schema import ChatRequest, Conversation, chunk, completion
from bots.openai_api.usage import Usage, run_usage
from core.errors import DaertError

if TYPE_CHECKING:
    from agents.gateway.usage import UsageStore
    from bots.runs.records import Run
    from bots.runs.service import RunService

DONE = b"data: [DONE]\n\n"
KEEP_ALIVE = b": keep-alive\n\n"
# How a run that did not succeed answers: HTTP status, and the code when the run has none.
FAILED = {"timeout": (504, "run_timeout"), "cancelled": (409, "run_cancelled"),
          "interrupted": (409, "run_interrupted"), "error": (500, "run_failed")}  # fmt: skip


class AnswerFailed(DaertError):
    """The run behind a completion did not succeed: its error, with a status that fits."""

    def __init__(self, run: Run, headers: dict[str, str] | None = None) -> None:
        status, code = FAILED.get(run.status, (500, "run_failed"))
        error = run.error or {}
        if isinstance(error.get("status"), int) and 400 <= error["status"] < 600:
            status = error["status"]  # the run's own failure said what kind it was
        super().__init__(
            str(error.get("message") or f"the run ended {run.status}"),
            hint=str(error.get("hint") or "retry; the run's record has the details: "
                     f"GET /threads/{run.thread_id}/runs/{run.run_id}"),
            code=str(error.get("code") or code),
            headers=headers,
        )  # fmt: skip
        self.http_status = status


@dataclass(frozen=True)
class Replies:
    runs: RunService
    usage: UsageStore | None

    async def whole(
        self, run: Run, reader: Reader, request: ChatRequest, asked: Conversation,
        headers: dict[str, str],
    ) -> dict[str, Any]:  # fmt: skip
        """The `chat.completion`, once the run is over; AnswerFailed if it did not succeed."""
        async for part in answer(self.runs, run, reader):
            if isinstance(part, Finished):
                if part.run.status != "success":
                    raise AnswerFailed(part.run, headers)
                used = await self._usage(part, asked)
                return completion(
                    f"chatcmpl-{run.run_id}", request.model, created(run), part.text,
                    usage=used.to_openai(), daert=about(part) | {"usage_source": used.source},
                )  # fmt: skip
        raise AssertionError("an answer always ends with Finished")  # pragma: no cover

    async def stream(
        self, run: Run, reader: Reader, request: ChatRequest, asked: Conversation
    ) -> AsyncIterator[bytes]:
        """SSE: the role, content deltas, the finishing chunk, usage if asked, `[DONE]`. A run
        that fails midway ends with an `error` object (what OpenAI clients raise on)."""
        cid, model, at = f"chatcmpl-{run.run_id}", request.model, created(run)
        with_usage = bool(request.stream_options and request.stream_options.include_usage)
        extra: dict[str, Any] = {"usage": None} if with_usage else {}
        ids = {"thread_id": run.thread_id, "run_id": run.run_id}
        yield sse(chunk(cid, model, at, {"role": "assistant", "content": ""}, daert=ids, **extra))
        async for part in answer(self.runs, run, reader):
            if part is None:
                yield KEEP_ALIVE
            elif isinstance(part, Delta):
                yield sse(chunk(cid, model, at, {"content": part.text}, **extra))
            elif part.run.status != "success":  # the HTTP status is sent already
                yield sse({"error": {**AnswerFailed(part.run).to_dict(), "type": "server_error"}})
            else:
                daert = about(part)
                used = await self._usage(part, asked) if with_usage else None
                if used is not None:
                    daert["usage_source"] = used.source
                yield sse(chunk(cid, model, at, {}, finish_reason="stop", daert=daert, **extra))
                if used is not None:
                    yield sse(chunk(cid, model, at, None, usage=used.to_openai()))
        yield DONE

    async def _usage(self, part: Finished, asked: Conversation) -> Usage:
        # What the answer saw, for an estimate: the thread's messages, else the request's.
        prompt = thread_texts(part.run.output) or asked.texts()
        return await run_usage(self.usage, part.run, prompt, part.text)


def about(part: Finished) -> dict[str, Any]:
    """daert's own part of an answer: where it lives and what it cites."""
    return {"thread_id": part.run.thread_id, "run_id": part.run.run_id,
            "citations": part.citations}  # fmt: skip


def created(run: Run) -> int:
    return int(run.created_at.timestamp())


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
