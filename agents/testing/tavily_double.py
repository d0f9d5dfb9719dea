"""A local server speaking Tavily's HTTP API (/search, /extract) for the real `tavily-python`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.testing._server import BackgroundServer
from core.net import free_port


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
        self._server = BackgroundServer(app, self.port, "Tavily double")
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
