"""A local server that speaks the OpenAI chat/embeddings wire protocol, scripted by the test.

Real clients (LiteLLM, the openai SDK) talk to it over HTTP. Each request takes the next
scripted action; with the script empty it uses `default`. Every request is recorded.

With `strict=True` it is the strict scripted chat model of graph tests: a chat request with
the script empty, or one that lacks the text its reply `expect`s, is a violation (answered
500 and recorded), and `assert_done()` fails on violations and on replies left unused.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agents.testing._server import BackgroundServer
from core.net import free_port


@dataclass
class Reply:
    """What the double does for one request."""

    text: str = "hello from the double"
    status: int = 200
    delay: float = 0.0
    error: str = ""
    expect: str = ""  # strict mode: the request's messages must contain this text


def ok(text: str = "hello from the double", *, expect: str = "") -> Reply:
    return Reply(text=text, expect=expect)


def fail(status: int, error: str = "scripted failure") -> Reply:
    return Reply(status=status, error=error)


def slow(delay: float) -> Reply:
    return Reply(delay=delay)


@dataclass
class OpenAIDouble:
    default: Reply = field(default_factory=ok)
    script: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    strict: bool = False
    violations: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *replies: Reply) -> OpenAIDouble:
        self.script.extend(replies)
        return self

    def _next(self) -> Reply:
        return self.script.popleft() if self.script else self.default

    def _check(self, body: dict[str, Any]) -> Reply:
        """The reply for a chat request; in strict mode, a violation answers 500."""
        if not self.strict:
            return self._next()
        text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
        last = text[-200:].replace("\n", " ")
        if not self.script:
            self.violations.append(f"unexpected call #{len(self.requests)}: ...{last}")
            return fail(500, "strict double: unexpected call")
        reply = self.script.popleft()
        if reply.expect and reply.expect not in text:
            self.violations.append(f"call #{len(self.requests)} lacks {reply.expect!r}: ...{last}")
            return fail(500, "strict double: the request lacks the expected text")
        return reply

    def assert_done(self) -> None:
        """Strict mode: every scripted reply used, no unexpected or mismatched call."""
        problems = list(self.violations)
        if self.script:
            problems.append(f"{len(self.script)} scripted replies left unused")
        if problems:
            raise AssertionError("scripted model: " + "; ".join(problems))

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"path": request.url.path, "body": body})
        reply = self._check(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": reply.error, "type": "scripted", "code": reply.status}},
                status_code=reply.status,
            )
        created = int(time.time())
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        if body.get("stream"):
            return StreamingResponse(
                self._sse(body, reply.text, created, usage), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": "chatcmpl-double",
                "object": "chat.completion",
                "created": created,
                "model": body.get("model", "double"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    async def _sse(
        self, body: dict[str, Any], text: str, created: int, usage: dict[str, int]
    ) -> Any:
        base = {"id": "chatcmpl-double", "object": "chat.completion.chunk", "created": created,
                "model": body.get("model", "double")}  # fmt: skip
        for word in text.split(" "):
            piece = {**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]}
            yield f"data: {json.dumps(piece)}\n\n"
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(end)}\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    async def _embeddings(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"path": request.url.path, "body": body})
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(texts)
        ]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model"),
                             "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "double", "object": "model"}]})

    def __enter__(self) -> OpenAIDouble:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._server = BackgroundServer(app, self.port, "OpenAI double")
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


def main() -> None:
    """`python -m agents.testing.openai_double --port N`: serve until killed (for benchmarks)."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    double = OpenAIDouble(default=Reply(delay=args.delay), port=args.port or free_port())
    with double:
        print(double.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
