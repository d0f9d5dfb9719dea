"""A local server speaking Tavily's HTTP API (/search, /extract) for the real `tavily-python`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daert.services.supervisor import free_port


@dataclass
class TavilyDouble:
    api_key: str = "tvly-test-key"
    results: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _search(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {"detail": {"error": "Unauthorized: missing or invalid API key."}}, 401
            )
        body = await request.json()
        self.requests.append(body)
        limit = int(body.get("max_results") or 5)
        return JSONResponse(
            {
                "query": body["query"],
                "answer": None,
                "images": [],
                "results": self.results[:limit],
                "response_time": 0.01,
            }
        )

    def __enter__(self) -> TavilyDouble:
        app = Starlette(routes=[Route("/search", self._search, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Tavily double did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
