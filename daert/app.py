"""The FastAPI application factory: health endpoints, auth, size limits and one error format.

Every error leaves as `{"error": {"code", "message", "hint", "type"}}` with a 4xx/5xx status
(`type` is the OpenAI error class, so OpenAI clients raise a typed error with the message); a
bug becomes a 500 with a request id and no traceback (the traceback goes to the server log).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.errors import ERROR_RESPONSES
from core.errors import DaertError
from daert import __version__
from daert.health import ComponentHealth, ProbeCache, Target, apply_supervision, probe
from daert.services.state import Supervision

log = logging.getLogger("daert.http")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json"})
DEFAULT_MAX_BODY = 10 * 1024 * 1024


# The `type` OpenAI's API gives each kind of failure (what its clients read besides the status).
ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return ERROR_TYPES.get(status, "invalid_request_error")


def error_body(
    code: str, message: str, hint: str = "", *, status: int, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint,
                      "type": error_type(status), **extra}}  # fmt: skip


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    refused = True
                    await self._refuse(send)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after our 413, whatever the app answers is dropped
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counted, guarded_send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body(
                "payload_too_large",
                f"request body is larger than {self.limit} bytes",
                "send a smaller body, or raise DAERT_MAX_BODY_BYTES on the server",
                status=413,
            ),
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _add_dependency_handlers(app: FastAPI) -> None:
    """What the stores' own errors mean for a client: a dead dependency is a 503 with its
    code, a value PostgreSQL cannot store is the client's 400."""

    def dependency_down(name: str, code: str) -> Callable[[Request, Exception], Awaitable[Any]]:
        async def handler(request: Request, err: Exception) -> JSONResponse:
            log.warning("%s unreachable on %s: %s", name, request.url.path, err)
            return JSONResponse(
                error_body(
                    code,
                    f"{name} is not reachable: {type(err).__name__}",
                    f"retry shortly; if it persists, check {name} (`daert doctor`, /readyz)",
                    status=503,
                ),
                status_code=503,
                headers={"Retry-After": "5"},
            )

        return handler

    # A dead dependency is the server's trouble, said as such (503), never a 500 with no code.
    from psycopg import OperationalError  # noqa: PLC0415
    from psycopg_pool import PoolTimeout  # noqa: PLC0415
    from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415
    from redis.exceptions import TimeoutError as RedisTimeout  # noqa: PLC0415

    down: list[tuple[type[Exception], str, str]] = [
        (OperationalError, "PostgreSQL", "postgres_down"),
        (PoolTimeout, "PostgreSQL", "postgres_down"),
        (RedisConnectionError, "Redis", "redis_down"),
        (RedisTimeout, "Redis", "redis_down"),
    ]
    for kind, name, code in down:
        app.add_exception_handler(kind, dependency_down(name, code))

    from psycopg import DataError  # noqa: PLC0415

    async def unstorable(request: Request, err: Exception) -> JSONResponse:
        # e.g. a NUL character in an id or a text: the client's value, not a server fault
        log.info("value refused by PostgreSQL on %s: %s", request.url.path, err)
        return JSONResponse(
            error_body(
                "invalid_value",
                "the request holds a value that cannot be stored or looked up",
                "remove control characters (such as NUL) from ids and texts",
                status=400,
            ),
            status_code=400,
        )

    app.add_exception_handler(DataError, unstorable)


def create_app(
    targets: Callable[[], list[Target]],
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    routers: Sequence[APIRouter] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    supervision: Callable[[], Mapping[str, Supervision]] | None = None,
    probe_cache: ProbeCache | None = None,
) -> FastAPI:
    """Build the app. `targets` says, at each call, what /readyz must probe; `supervision`,
    what the service watcher knows (crashes, restarts, given up); `probe_cache` keeps the
    model's one-token answer briefly so that polling /readyz does not keep the model busy."""
    cache = probe_cache or ProbeCache()
    last_events: list[object] = [None]  # what the watcher last said, to notice a change

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook()

    app = FastAPI(title="daert", version=__version__, lifespan=lifespan)
    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)

    async def require_key(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if request.url.path not in PUBLIC_PATHS:
            given = request.headers.get("authorization", "")
            token = given.removeprefix("Bearer ").strip()
            if not hmac.compare_digest(token.encode(), (api_key or "").encode()):
                return JSONResponse(
                    error_body(
                        "unauthorized",
                        "missing or wrong API key",
                        "send `Authorization: Bearer <DAERT_API_KEY>`",
                        status=401,
                    ),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    if api_key is not None:  # a middleware costs every request: only when there is a key
        app.middleware("http")(require_key)

    @app.exception_handler(DaertError)
    async def daert_error(_: Request, err: DaertError) -> JSONResponse:
        return JSONResponse(
            error_body(err.code, err.message, err.hint, status=err.http_status),
            status_code=err.http_status,
            headers=err.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg"))}
            for e in err.errors()
        ]
        return JSONResponse(
            error_body(
                "invalid_request",
                "the request does not match the API schema",
                "see `details` and the schema at /docs",
                status=422,
                details=details,
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return JSONResponse(
            error_body(
                code, str(err.detail), "see the API reference at /docs", status=err.status_code
            ),
            status_code=err.status_code,
            headers=getattr(err, "headers", None),
        )

    _add_dependency_handlers(app)

    @app.exception_handler(Exception)
    async def crash(request: Request, err: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error (request %s) on %s", request_id, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                "the server hit an unexpected error",
                "retry; if it persists, report it with this request id",
                status=500,
                request_id=request_id,
            ),
            status_code=500,
        )

    @app.get("/healthz", summary="Liveness: the process serves HTTP")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", summary="Readiness: every required dependency answers")
    async def readyz() -> JSONResponse:
        checks = await asyncio.to_thread(targets)
        watched = await asyncio.to_thread(supervision) if supervision is not None else {}
        events = {n: (s.pid, s.state) for n, s in watched.items()}
        if events != last_events[0]:  # a crash or a restart: kept answers came from the old one
            cache.clear()
            last_events[0] = events
        results: list[ComponentHealth] = await asyncio.gather(
            *(asyncio.to_thread(probe, t, cache) for t in checks)
        )
        results = apply_supervision(results, watched)
        ready = all(r.healthy for r in results if r.required)
        down = [r.name for r in results if r.required and not r.healthy]
        body = {
            "status": "ready" if ready else "unavailable",
            "down": down,
            "components": {r.name: r.to_dict() for r in results},
            # /readyz is public: how each service ended, but not its log lines
            "services": {n: s.to_dict(with_log=False) for n, s in watched.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    app.add_middleware(BodyLimit, limit=max_body_bytes)  # outermost: before auth reads anything
    return app
