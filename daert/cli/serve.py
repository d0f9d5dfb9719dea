"""`daert serve` and `daert worker`: the HTTP API and the run workers.

`serve` brings the embedded services up, serves the API, and (by default) works runs in the
same process; `worker` only works runs, and may run anywhere that reaches the same PostgreSQL
and Redis. While `serve` runs, a watcher thread restarts an embedded service that crashed
(see `daert.services.monitor`); it is stopped before the services and joined after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import ConfigError
from daert.services.plan import Endpoints, build_supervisor, endpoints
from daert.services.supervisor import Supervisor, port_is_free
from daert.settings import Settings

if TYPE_CHECKING:
    from daert.runtime import Runtime

if TYPE_CHECKING:
    pass


def run_server(
    settings: Settings,
    *,
    log: Callable[[str], None],
    worker: bool | None = None,
    concurrency: int | None = None,
) -> None:
    from daert.services.monitor import ServiceMonitor  # noqa: PLC0415

    if settings.host in ("127.0.0.1", "localhost") and not port_is_free(settings.port):
        raise ConfigError(
            f"port {settings.port} on {settings.host} is already in use",
            hint="stop the other server, or pick another port: `daert serve --port 8081` "
            "(or DAERT_PORT)",
            code="port_in_use",
        )
    supervisor = build_supervisor(settings)
    monitor = ServiceMonitor(supervisor, progress=log)
    try:
        # In this (main) thread on purpose: the parent-death signal is tied to the spawning thread.
        supervisor.up(detached=False, progress=log)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # probes would log every request
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
        )
        monitor.start()
        works = settings.serve_worker if worker is None else worker
        asyncio.run(
            _serve(settings, supervisor, endpoints(settings, supervisor), log, works,
                   concurrency or settings.worker_concurrency)
        )  # fmt: skip
    finally:
        monitor.stop()  # no restart from here on; then stop the services while it still lives:
        supervisor.down(owned_by=os.getpid(), progress=log)
        monitor.join()  # its end signals the services it restarted, and they are gone by now


async def _serve(  # noqa: PLR0917
    settings: Settings,
    supervisor: Supervisor,
    urls: Endpoints,
    log: Callable[[str], None],
    worker: bool,
    concurrency: int,
) -> None:
    import uvicorn  # noqa: PLC0415

    from daert.adapters import build_sandbox  # noqa: PLC0415
    from daert.code_api import code_router  # noqa: PLC0415
    from daert.health import Target  # noqa: PLC0415
    from daert.runtime import Runtime  # noqa: PLC0415
    from daert.server import build_app, open_runs, services_for, usage_for  # noqa: PLC0415
    from daert.targets import probe_targets  # noqa: PLC0415
    from tools.code_exec.ports import CodeSandbox  # noqa: PLC0415

    def targets() -> list[Target]:
        return probe_targets(settings, endpoints(settings, supervisor))

    sandboxes: list[CodeSandbox] = []

    def sandbox() -> CodeSandbox:  # built on first use: bubblewrap costs nothing until then
        if not sandboxes:
            sandboxes.append(build_sandbox(settings))
        return sandboxes[0]

    async def close_sandbox() -> None:
        for box in sandboxes:
            await box.aclose()

    async with (
        Runtime(settings, urls=urls) as runtime,
        open_runs(runtime, concurrency=concurrency if worker else 0) as runs,
    ):
        services = await services_for(runtime, runs)
        app = build_app(
            services,
            authenticated=[code_router(sandbox, services.principal)],
            usage=await usage_for(runtime),
            targets=targets,
            max_body_bytes=settings.max_body_bytes,
            cors_origins=settings.cors_origins,
            on_shutdown=[close_sandbox],
            supervision=supervisor.supervision,
        )
        await _say_who_may_call(runtime, settings, log)
        background = [asyncio.create_task(runs.sweeper.loop(), name="sweeper")]
        if worker:
            runs.queue.register(runs.executor)
            background.append(
                asyncio.create_task(runs.queue.work(concurrency=concurrency), name="worker")
            )
            log(f"working runs here ({concurrency} at once); more with `daert worker`")
        else:
            log("not working runs here: start `daert worker` processes")
        log(
            f"daert API on http://{settings.host}:{settings.port} (readiness: /readyz, docs: /docs)"
        )
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level=settings.log_level,
            timeout_graceful_shutdown=5,
        )  # fmt: skip
        from daert.client import remove_record, write_record  # noqa: PLC0415

        write_record(settings.data_dir, f"http://{_loopback(settings.host)}:{settings.port}")
        try:
            await uvicorn.Server(config).serve()
        finally:
            remove_record(settings.data_dir)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _loopback(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


async def _say_who_may_call(
    runtime: Runtime, settings: Settings, log: Callable[[str], None]
) -> None:
    keys = await runtime.keys()
    if settings.api_key is None and settings.open_loopback and not await keys.any_active():
        log(
            "no API keys exist: requests from this machine act as user 'local' without a key; "
            "create keys with `daert keys create --user NAME` to require them"
        )
    else:
        log("API keys are required (`daert keys list`)")


def run_worker(settings: Settings, *, log: Callable[[str], None], concurrency: int) -> None:
    """Work runs until SIGINT/SIGTERM (a run in progress is finished, or handed back)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_work(settings, log, concurrency))


async def _work(settings: Settings, log: Callable[[str], None], concurrency: int) -> None:
    from daert.runtime import Runtime  # noqa: PLC0415
    from daert.server import open_runs  # noqa: PLC0415

    async with Runtime(settings) as runtime, open_runs(runtime) as runs:
        runs.queue.register(runs.executor)
        sweeper = asyncio.create_task(runs.sweeper.loop(), name="sweeper")
        log(f"daert worker: working runs ({concurrency} at once); Ctrl-C stops it")
        try:
            await runs.app.run_worker_async(
                queues=["runs"], concurrency=concurrency, install_signal_handlers=True,
                update_heartbeat_interval=5.0, stalled_worker_timeout=20.0,
                shutdown_graceful_timeout=10.0, delete_jobs="successful",
            )  # fmt: skip
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
