"""`daert serve`: embedded services up, the HTTP API on top, what it started stopped on exit.

While it serves, a watcher thread restarts an embedded service that crashed (see
`daert.services.monitor`); it is stopped before the services and joined after them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import uvicorn

from core.errors import ConfigError
from daert.adapters import build_sandbox
from daert.app import create_app
from daert.code_api import code_router
from daert.health import Target
from daert.services.monitor import ServiceMonitor
from daert.services.plan import build_supervisor, endpoints
from daert.services.supervisor import port_is_free
from daert.settings import Settings
from daert.targets import probe_targets
from tools.code_exec.ports import CodeSandbox


def run_server(settings: Settings, *, log: Callable[[str], None]) -> None:
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

        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        app = create_app(
            targets,
            api_key=api_key,
            max_body_bytes=settings.max_body_bytes,
            routers=[code_router(sandbox)],
            on_shutdown=[close_sandbox],
            supervision=supervisor.supervision,
        )
        logging.getLogger("httpx").setLevel(logging.WARNING)  # probes would log every request
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
        )
        log(
            f"daert API on http://{settings.host}:{settings.port} (readiness: /readyz, docs: /docs)"
        )
        monitor.start()
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        monitor.stop()  # no restart from here on; then stop the services while it still lives:
        supervisor.down(owned_by=os.getpid(), progress=log)
        monitor.join()  # its end signals the services it restarted, and they are gone by now
