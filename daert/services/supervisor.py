"""Brings embedded services up and down, reusing what already runs and cleaning what is stale."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from daert.errors import ConfigError, ServiceError
from daert.services.base import EmbeddedService
from daert.services.datadir import ensure_data_dir
from daert.services.process import spawn, stop, wait_until
from daert.services.state import ServiceRecord, StateStore

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _who_listens(port: int) -> str:
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
                return ""
    except psutil.Error:
        pass
    return ""


@dataclass(frozen=True)
class Managed:
    """An embedded service with the port the operator asked for (0: any free one)."""

    service: EmbeddedService
    port: int = 0


class Supervisor:
    """Owns the lifecycle of the embedded services of one data directory."""

    def __init__(
        self, data_dir: Path, services: Sequence[Managed], *, start_timeout: float = 90.0
    ) -> None:
        self.data_dir = data_dir
        self.services = list(services)
        self.state = StateStore(data_dir / "run")
        self.start_timeout = start_timeout

    def _choose_port(self, managed: Managed) -> int:
        name = managed.service.name
        if managed.port:
            if not port_is_free(managed.port):
                raise ConfigError(
                    f"port {managed.port} for the embedded {name} is already taken"
                    f"{_who_listens(managed.port)}",
                    hint=f"stop that program, or set DAERT_{name.upper()}_PORT to another port "
                    "(0 picks a free one)",
                    code="port_in_use",
                )
            return managed.port
        last = self.state.last_ports().get(name)
        if last and port_is_free(last):
            return last
        return free_port()

    def up(self, *, detached: bool, progress: Progress = _quiet) -> dict[str, ServiceRecord]:
        """Make every managed service run; return their records. Reuses live ones."""
        ensure_data_dir(self.data_dir)
        records: dict[str, ServiceRecord] = {}
        with self.state.lock():
            for managed in self.services:
                records[managed.service.name] = self._ensure(managed, detached, progress)
        return records

    def _ensure(self, managed: Managed, detached: bool, progress: Progress) -> ServiceRecord:
        svc = managed.service
        record = self.state.read(svc.name)
        if record is not None and record.is_alive() and svc.ready(record.port):
            progress(f"{svc.title}: already running on 127.0.0.1:{record.port} (pid {record.pid})")
            if not record.detached and record.owner_pid != os.getpid():
                progress(
                    f"{svc.title}: note: it belongs to process {record.owner_pid} and stops with "
                    "it; start shared services with `daert up` to keep them independent"
                )
            return record
        if record is not None:
            if record.is_alive():  # alive but not answering: hung, replace it
                progress(f"{svc.title}: pid {record.pid} does not answer; restarting it")
                stop(record.pid, signal.SIGKILL, 10)
            self.state.remove(svc.name)
        began = time.monotonic()
        svc.prepare()
        adopted = svc.find_running()
        if adopted is not None:
            pid, port = adopted
            progress(f"{svc.title}: adopting the server already on our data (pid {pid})")
            deadline = time.monotonic() + self.start_timeout
            while not svc.ready(port):
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"a {svc.title} (pid {pid}) runs on {self.data_dir} but does not answer",
                        hint=f"stop pid {pid}, then run `daert up` again",
                        code=f"{svc.name}_unresponsive",
                    )
                time.sleep(0.2)
            return self._record(svc, pid, port, detached=True, log=self._log(svc))
        port = self._choose_port(managed)
        progress(f"{svc.title}: starting on 127.0.0.1:{port} ...")
        log = self._log(svc)
        proc = spawn(svc.launch(port), log, detached=detached)
        wait_until(
            lambda: svc.ready(port), proc, name=svc.name, timeout=self.start_timeout, log_path=log
        )
        svc.finalize(port)
        record = self._record(svc, proc.pid, port, detached=detached, log=log)
        progress(f"{svc.title}: ready on 127.0.0.1:{port} in {time.monotonic() - began:.1f}s")
        return record

    def _log(self, svc: EmbeddedService) -> Path:
        return self.data_dir / "logs" / f"{svc.name}.log"

    def _record(
        self, svc: EmbeddedService, pid: int, port: int, *, detached: bool, log: Path
    ) -> ServiceRecord:
        record = ServiceRecord(
            name=svc.name,
            pid=pid,
            create_time=psutil.Process(pid).create_time(),
            port=port,
            url=svc.url(port),
            version=svc.version(),
            owner_pid=os.getpid(),
            detached=detached,
            log_path=str(log),
        )
        self.state.write(record)
        return record

    def down(self, *, owned_by: int | None = None, progress: Progress = _quiet) -> list[str]:
        """Stop services (all, or only those `owned_by` a process and not detached)."""
        stopped: list[str] = []
        if not self.data_dir.is_dir():
            return stopped
        with self.state.lock():
            for managed in reversed(self.services):
                svc = managed.service
                record = self.state.read(svc.name)
                if record is None:
                    continue
                if owned_by is not None and (record.detached or record.owner_pid != owned_by):
                    continue
                if record.is_alive():
                    progress(f"{svc.title}: stopping pid {record.pid} ...")
                    stop(record.pid, svc.stop_signal)
                    stopped.append(svc.name)
                self.state.remove(svc.name)
        return stopped

    def status(self) -> dict[str, ServiceRecord | None]:
        """The live record of each managed service, None when it does not run."""
        result: dict[str, ServiceRecord | None] = {}
        for managed in self.services:
            record = self.state.read(managed.service.name)
            result[managed.service.name] = record if record and record.is_alive() else None
        return result
