"""The server's composition: the run machinery, the graphs it serves, and the HTTP app.

`open_runs` is what `daert serve` and `daert worker` share: a run store, event streams, the
procrastinate queue, an executor and the sweeper, over the runtime's PostgreSQL and Redis.
`build_app` puts the HTTP API on top.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bots.errors import NotFound
from bots.runs.served import BUILTIN, AssistantGraph, LangGraphGraph, ServedGraph, load_graph

if TYPE_CHECKING:
    import procrastinate
    from fastapi import APIRouter, FastAPI

    from agents.gateway.usage import UsageStore
    from bots.agent_protocol.services import Services
    from bots.runs.executor import RunExecutor
    from bots.runs.queue import RunQueue, Sweeper
    from bots.runs.service import RunService
    from bots.runs.store import RunStore
    from bots.runs.streams import RunStreams
    from daert.runtime import Runtime

log = logging.getLogger("daert.server")


class GraphCatalog:
    """The graphs this server serves by id: daert's assistant (built on first use) and the
    graphs of `DAERT_GRAPHS` (imported at start, so a bad path fails the start)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._extra: dict[str, ServedGraph] = {}

    async def load(self) -> None:
        saver = await self.runtime.checkpointer()
        store = await self.runtime.long_term_store() if self.runtime.settings.graphs else None
        for graph_id, spec in self.runtime.settings.graphs.items():
            self._extra[graph_id] = LangGraphGraph(
                graph_id, load_graph(spec, saver, store), description=f"{spec}"
            )

    def descriptions(self) -> dict[str, str]:
        return {
            BUILTIN: AssistantGraph.description,
            **{g: s.description for g, s in self._extra.items()},
        }

    async def get(self, graph_id: str) -> ServedGraph:
        if graph_id in self._extra:
            return self._extra[graph_id]
        if graph_id == BUILTIN:
            built = await self.runtime.optional("served_assistant", self._assistant)
            if built is not None:
                return built
        raise NotFound(
            f"no graph {graph_id[:64]!r}",
            hint=f"served graphs: {', '.join(self.descriptions())}; add one with DAERT_GRAPHS",
            code="graph_not_found",
        )

    async def _assistant(self) -> ServedGraph:
        return AssistantGraph(await self.runtime.assistant())


@dataclass
class RunMachinery:
    catalog: GraphCatalog
    store: RunStore
    streams: RunStreams
    app: procrastinate.App
    queue: RunQueue
    executor: RunExecutor
    sweeper: Sweeper
    service: RunService


@contextlib.asynccontextmanager
async def open_runs(runtime: Runtime, *, concurrency: int = 0) -> AsyncIterator[RunMachinery]:
    """Everything runs need, opened; the queue's connections are closed on the way out.
    With `concurrency`, this process also starts up to that many runs itself, at once, when
    nothing else runs on their thread (the server's own worker)."""
    from bots.runs.executor import RunExecutor  # noqa: PLC0415
    from bots.runs.queue import (  # noqa: PLC0415
        LocalRunner,
        RunQueue,
        Sweeper,
        build_app,
        setup_schema,
    )
    from bots.runs.service import RunService, delete_run_checkpoints  # noqa: PLC0415
    from bots.runs.store import RunStore  # noqa: PLC0415
    from bots.runs.streams import RunStreams  # noqa: PLC0415

    settings = runtime.settings
    pool = await runtime.pool()
    registry = await runtime.threads()
    saver = await runtime.checkpointer()
    store = RunStore(pool)
    await store.setup()
    await setup_schema(pool)
    streams = RunStreams(await runtime.stream_redis(), retention=settings.run_stream_retention)
    catalog = GraphCatalog(runtime)
    await catalog.load()

    async def rollback(thread_id: str, run_ids: list[str]) -> None:
        await delete_run_checkpoints(pool, thread_id, run_ids)

    async def drop_thread(thread_id: str) -> None:  # a stateless run's thread: its state
        await saver.adelete_thread(thread_id)
        await registry.forget(thread_id)

    async def forget_thread(thread_id: str) -> None:
        await saver.adelete_thread(thread_id)
        await registry.forget(thread_id)

    app = build_app(runtime.postgres_url())
    queue = RunQueue(app, store)
    executor = RunExecutor(
        store, streams, catalog.get, default_timeout=settings.run_timeout,
        rollback=rollback, drop_thread=drop_thread,
    )  # fmt: skip
    sweeper = Sweeper(queue, store, streams)
    local = LocalRunner(executor, queue, concurrency=concurrency) if concurrency else None
    service = RunService(
        store, streams, queue, forget_thread=forget_thread, rollback=rollback, local=local
    )
    async with app.open_async():
        try:
            yield RunMachinery(catalog, store, streams, app, queue, executor, sweeper, service)
        finally:
            if local is not None:
                await local.aclose()


async def services_for(runtime: Runtime, runs: RunMachinery) -> Services:
    from bots.agent_protocol.assistants import AssistantStore  # noqa: PLC0415
    from bots.agent_protocol.crons import CronStore  # noqa: PLC0415
    from bots.agent_protocol.services import Services  # noqa: PLC0415
    from bots.auth.http import principal_dependency  # noqa: PLC0415

    pool = await runtime.pool()
    assistants = AssistantStore(pool)
    await assistants.setup(runs.catalog.descriptions())
    crons = CronStore(pool)
    await crons.setup()
    settings = runtime.settings
    legacy = settings.api_key.get_secret_value() if settings.api_key else None

    async def limiter() -> Any:
        return await runtime.rate_limiter()

    principal = principal_dependency(
        runtime.keys, limiter, open_loopback=settings.open_loopback, legacy_key=legacy
    )
    await runtime.keys()  # the keys' table exists before the first request
    return Services(
        runs=runs.service,
        threads=await runtime.threads(),
        assistants=assistants,
        crons=crons,
        store=await runtime.long_term_store(),
        graph=runs.catalog.get,
        principal=principal,
    )


async def usage_for(runtime: Runtime) -> UsageStore:
    """Where the gateway records model calls, read back for the OpenAI API's `usage`."""
    from agents.gateway.usage import PostgresUsageStore  # noqa: PLC0415

    store = PostgresUsageStore(await runtime.pool())
    await store.setup()  # the table exists before the first model call writes to it
    return store


def build_app(
    services: Services,
    *,
    authenticated: Sequence[APIRouter] = (),
    usage: UsageStore | None = None,
    cors_origins: Sequence[str] = (),
    **create: Any,
) -> FastAPI:
    """The HTTP app: health, the Agent-Protocol API, the OpenAI-compatible API (its `usage`
    read from `usage`), and `authenticated` routers (each behind the same keys)."""
    from fastapi import Depends  # noqa: PLC0415

    from bots.agent_protocol.router import agent_protocol_routers  # noqa: PLC0415
    from bots.errors import ERROR_RESPONSES  # noqa: PLC0415
    from bots.openai_api.routes import openai_router  # noqa: PLC0415
    from daert import __version__  # noqa: PLC0415
    from daert.app import create_app  # noqa: PLC0415

    routers = [*agent_protocol_routers(services, version=__version__),
               openai_router(services, usage=usage)]  # fmt: skip
    app = create_app(routers=routers, **create)
    if cors_origins:  # off unless configured: browsers on other origins get no answer
        from fastapi.middleware.cors import CORSMiddleware  # noqa: PLC0415

        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
            allow_headers=["*"], expose_headers=["Content-Location", "Location",
                                                  "X-Pagination-Next", "X-Daert-Thread-Id"],
        )  # fmt: skip
    for router in authenticated:
        app.include_router(
            router, dependencies=[Depends(services.principal)], responses=ERROR_RESPONSES
        )
    return app
