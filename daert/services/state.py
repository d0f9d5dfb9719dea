"""What the supervisor remembers about embedded services, on disk under `<data_dir>/run/`.

One JSON record per service (pid, process start time, port, owner) written atomically, plus a
lock file that serializes every `up`/`down` across processes. A record whose pid is gone, or now
belongs to another program, is stale and is cleaned up by the next command that reads it.

Beside it, `<name>.supervision.json` keeps what the watcher of `daert serve` saw: how the
service last ended, how often it was restarted, and whether daert gave up on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from core.errors import ServiceError


@dataclass(frozen=True)
class ServiceRecord:
    """A running embedded service as recorded by the process that started it."""

    name: str
    pid: int
    create_time: float
    port: int
    url: str
    version: str
    owner_pid: int
    detached: bool
    log_path: str
    started_at: float = field(default_factory=time.time)

    def process(self) -> psutil.Process | None:
        """The live process this record names, or None when it is gone or the pid was reused."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 1.0:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return proc

    def is_alive(self) -> bool:
        return self.process() is not None

    def owner_alive(self) -> bool:
        return psutil.pid_exists(self.owner_pid)


@dataclass(frozen=True)
class ExitReport:
    """How one service process ended, as its watcher saw it."""

    pid: int
    at: float
    how: str
    """In words: "killed by SIGSEGV", "exited with code 1", "failed to restart: ..."."""
    exit_code: int | None = None
    signal: str | None = None
    log_tail: str = ""


SupervisionState = Literal["running", "restarting", "failed", "crashed"]
"""running: up (maybe after restarts); restarting: dead, a restart is scheduled; failed: daert
gave up after repeated crashes; crashed: dead and its watcher is gone, so nobody restarts it."""


@dataclass(frozen=True)
class Supervision:
    """What the watcher knows about one service: its crashes, and what it does next."""

    name: str
    state: SupervisionState
    pid: int
    """The process now running (state running) or the one that died last."""
    watcher_pid: int
    restarts: int
    crashes: int
    """Crashes within the window; at `max_crashes` the watcher gives up."""
    max_crashes: int
    window_s: float
    log_path: str
    message: str
    hint: str
    last_exit: ExitReport | None = None
    next_attempt_at: float | None = None
    updated_at: float = field(default_factory=time.time)

    def to_dict(self, *, with_log: bool = True) -> dict[str, Any]:
        """As JSON; without the log lines for places anyone may read (the public /readyz)."""
        data = asdict(self)
        if not with_log and data["last_exit"] is not None:
            data["last_exit"].pop("log_tail", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Supervision:
        last = data.get("last_exit")
        return cls(**{**data, "last_exit": ExitReport(**last) if last else None})


class StateStore:
    """Reads and writes service records and the last port each service used."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def _ports_path(self) -> Path:
        return self.run_dir / "ports.json"

    def ensure(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def read(self, name: str) -> ServiceRecord | None:
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
            return ServiceRecord(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            # A half-written or foreign file: treat as no record, keep a copy for inspection.
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".json.bad"))
            return None

    def write(self, record: ServiceRecord) -> None:
        self.ensure()
        self._atomic_write(self._path(record.name), asdict(record))
        ports = self.last_ports()
        ports[record.name] = record.port
        self._atomic_write(self._ports_path(), ports)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def _supervision_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.supervision.json"

    def read_supervision(self, name: str) -> Supervision | None:
        try:
            return Supervision.from_dict(json.loads(self._supervision_path(name).read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):  # half-written or from another version
            return None

    def write_supervision(self, supervision: Supervision) -> None:
        self.ensure()
        self._atomic_write(self._supervision_path(supervision.name), supervision.to_dict())

    def remove_supervision(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._supervision_path(name).unlink()

    def last_ports(self) -> dict[str, int]:
        try:
            data = json.loads(self._ports_path().read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _atomic_write(self, path: Path, data: object) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # records hold passwords
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2))
        tmp.replace(path)

    @contextlib.contextmanager
    def lock(self, timeout: float = 120.0) -> Iterator[None]:
        """Hold the supervisor lock: one `up`/`down` at a time per data dir."""
        self.ensure()
        deadline = time.monotonic() + timeout
        with (self.run_dir / "supervisor.lock").open("a+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ServiceError(
                            f"another daert process holds {self.run_dir / 'supervisor.lock'}",
                            hint="wait for the other `daert up`/`daert down` to finish, then retry",
                            code="supervisor_busy",
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
