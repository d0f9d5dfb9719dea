"""Brings embedded services up and down, reusing what already runs and cleaning what is stale.

It also gives the watcher of `daert serve` (`monitor.py`) what it needs: the exit status of the
processes it spawned, a locked check that a death was not a deliberate stop, and a restart on the
same port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from core.errors import ConfigError, ServiceError
from core.net import free_port
from daert.services.base import EmbeddedService
from daert.services.datadir import ensure_data_dir
from daert.services.process import spawn, stop, wait_until
from daert.services.state import ServiceRecord, StateStore, Supervision

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
        # The processes this object spawned: only their parent can read how they ended.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def _choose_port(self, managed: Managed, port: int | None = None) -> int:
        name = managed.service.name
        if port is not None:  # a restart: clients hold URLs with this port
            if not port_is_free(port):
                raise ServiceError(
                    f"port {port} of the embedded {name} was taken by another program"
                    f"{_who_listens(port)} while {name} was down",
                    hint=f"stop that program; restart `daert serve` to move {name} to a free port",
                    code="port_in_use",
                )
            return port
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

    def restart(
        self,
        name: str,
        *,
        port: int,
        detached: bool,
        cancelled: Callable[[], bool],
        progress: Progress = _quiet,
    ) -> ServiceRecord:
        """Start one service again on `port` after it died; adopt it if someone already did."""
        managed = next(m for m in self.services if m.service.name == name)
        with self.state.lock():
            if cancelled():  # shutdown began while we waited for the lock
                raise ServiceError(
                    f"the restart of the embedded {name} was abandoned: daert is shutting down",
                    code=f"{name}_start_cancelled",
                )
            return self._ensure(
                managed, detached, progress, port=port, cancelled=cancelled, fresh=False
            )

    def exit_status(self, record: ServiceRecord) -> tuple[bool, int | None]:
        """(dead, returncode) of a recorded process; the code is None when it is not our child."""
        child = self._children.get(record.name)
        if child is not None and child.pid == record.pid:
            code = child.poll()
            return code is not None, code
        return not record.is_alive(), None

    def last_start(self, name: str) -> tuple[int, int | None] | None:
        """(pid, returncode or None while it runs) of the last process spawned for `name`."""
        child = self._children.get(name)
        return (child.pid, child.poll()) if child is not None else None

    def confirm_exit(self, name: str, pid: int) -> ServiceRecord | None:
        """The record of `pid` if it died while still recorded (a crash), after removing it.

        None when the death was expected: `daert down` removed the record, or another process
        already replaced it. Taken under the lock, so a stop in progress is never a crash.
        """
        with self.state.lock():
            record = self.state.read(name)
            if record is None or record.pid != pid or record.is_alive():
                return None
            self.state.remove(name)
            return record

    def running(self, name: str) -> ServiceRecord | None:
        record = self.state.read(name)
        return record if record is not None and record.is_alive() else None

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def _ensure(
        self,
        managed: Managed,
        detached: bool,
        progress: Progress,
        *,
        port: int | None = None,
        cancelled: Callable[[], bool] | None = None,
        fresh: bool = True,
    ) -> ServiceRecord:
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
            return self._record(svc, pid, port, detached=True, log=self.log_path(svc.name))
        port = self._choose_port(managed, port)
        progress(f"{svc.title}: starting on 127.0.0.1:{port} ...")
        log = self.log_path(svc.name)
        proc = spawn(svc.launch(port), log, detached=detached)
        self._children[svc.name] = proc
        wait_until(
            lambda: svc.ready(port),
            proc,
            name=svc.name,
            timeout=self.start_timeout,
            log_path=log,
            cancelled=cancelled,
        )
        svc.finalize(port)
        if fresh:  # started anew by hand: crashes of an earlier run no longer apply
            self.state.remove_supervision(svc.name)
        record = self._record(svc, proc.pid, port, detached=detached, log=log)
        progress(f"{svc.title}: ready on 127.0.0.1:{port} in {time.monotonic() - began:.1f}s")
        return record

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
                    if owned_by is None:  # a full `daert down`: forget earlier crashes too
                        self.state.remove_supervision(svc.name)
                    continue
                if owned_by is not None and (record.detached or record.owner_pid != owned_by):
                    continue
                if record.is_alive():
                    progress(f"{svc.title}: stopping pid {record.pid} ...")
                    stop(record.pid, svc.stop_signal)
                    stopped.append(svc.name)
                self.state.remove(svc.name)
                self.state.remove_supervision(svc.name)
                self._children.pop(svc.name, None)
        return stopped

    def status(self) -> dict[str, ServiceRecord | None]:
        """The live record of each managed service, None when it does not run."""
        result: dict[str, ServiceRecord | None] = {}
        for managed in self.services:
            record = self.state.read(managed.service.name)
            result[managed.service.name] = record if record and record.is_alive() else None
        return result

    def supervision(self) -> dict[str, Supervision]:
        """What a watcher recorded about each service, where it still describes the present.

        Kept: the record of the process that runs now (restarts, last crash), and the verdict on
        a service that is down (given up on, or waiting for a restart). A restart that was
        scheduled by a watcher that has since exited will never happen: it is shown as crashed.
        """
        found: dict[str, Supervision] = {}
        for managed in self.services:
            name = managed.service.name
            seen = self.state.read_supervision(name)
            if seen is None:
                continue
            live = self.running(name)
            if live is not None:
                if seen.pid == live.pid:
                    found[name] = seen
                continue
            if seen.state == "restarting" and not psutil.pid_exists(seen.watcher_pid):
                how = seen.last_exit.how if seen.last_exit else "died"
                seen = replace(
                    seen,
                    state="crashed",
                    next_attempt_at=None,
                    message=f"the embedded {name} {how}, and nobody restarts it: the "
                    f"`daert serve` that watched it (pid {seen.watcher_pid}) has exited",
                    hint=f"run `daert up` or `daert serve` to start it again; its log: "
                    f"{seen.log_path}",
                )
            if seen.state in ("restarting", "failed", "crashed"):
                found[name] = seen
        return found
