"""A local server speaking the E2B API (create and kill sandboxes) and the code interpreter's
`/execute` stream, for the real `e2b-code-interpreter` client. Executions are scripted."""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agents.testing._server import BackgroundServer
from core.net import free_port

Line = dict[str, Any]


def stdout(text: str) -> Line:
    return {"type": "stdout", "text": text, "timestamp": "2026-01-01T00:00:00Z"}


def stderr(text: str) -> Line:
    return {"type": "stderr", "text": text, "timestamp": "2026-01-01T00:00:00Z"}


def result(text: str | None = None, **formats: Any) -> Line:
    return {"type": "result", "text": text, "is_main_result": text is not None, **formats}


def error(name: str, value: str, traceback: str = "") -> Line:
    return {"type": "error", "name": name, "value": value, "traceback": traceback}


@dataclass
class E2BDouble:
    api_key: str = "e2b-test-key"
    script: deque[list[Line]] = field(default_factory=deque)
    executed: list[str] = field(default_factory=list)
    sandboxes: dict[str, str] = field(default_factory=dict)  # id -> state
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *executions: list[Line]) -> E2BDouble:
        self.script.extend(executions)
        return self

    async def _create(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != self.api_key:
            return JSONResponse({"code": 401, "message": "Invalid API key"}, 401)
        sandbox_id = uuid.uuid4().hex[:12]
        self.sandboxes[sandbox_id] = "running"
        body = {"templateID": "code-interpreter-v1", "sandboxID": sandbox_id,
                "clientID": "double", "envdVersion": "0.2.0"}  # fmt: skip
        return JSONResponse(body, 201)

    async def _kill(self, request: Request) -> Response:
        self.sandboxes[request.path_params["sandbox_id"]] = "killed"
        return Response(status_code=204)

    async def _execute(self, request: Request) -> Response:
        body = await request.json()
        self.executed.append(body["code"])
        lines = self.script.popleft() if self.script else [result("None")]

        async def stream() -> Any:
            for line in lines:
                yield json.dumps(line) + "\n"
            yield json.dumps({"type": "end_of_execution"}) + "\n"

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    def __enter__(self) -> E2BDouble:
        app = Starlette(
            routes=[
                Route("/v2/sandboxes", self._create, methods=["POST"]),
                Route("/sandboxes", self._create, methods=["POST"]),
                Route("/sandboxes/{sandbox_id}", self._kill, methods=["DELETE"]),
                Route("/execute", self._execute, methods=["POST"]),
            ]
        )
        self._server = BackgroundServer(app, self.port, "E2B double")
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
