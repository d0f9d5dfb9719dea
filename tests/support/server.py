"""`daert serve` and `daert worker` as real processes on the test stack's data dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.net import free_port


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAERT_")}
    return {**env, "COLUMNS": "200", **extra}


def wait_ready(base: str, proc: subprocess.Popen[str], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{base} did not answer within {timeout}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def serve(
    data_dir: Path, log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """`daert serve` on a free port; SIGTERM on the way out."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daert", "--data-dir", str(data_dir), "serve",
             "--port", str(port), *args],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env=_env(env or {}),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, log)
        yield Served(base, proc, log)
    finally:
        stop(proc)


@contextlib.contextmanager
def worker(
    data_dir: Path, log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`daert worker`; SIGTERM on the way out."""
    log = log_dir / f"worker-{time.monotonic_ns()}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daert", "--data-dir", str(data_dir), "worker", *args],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env=_env(env or {}),
        )  # fmt: skip
    try:
        yield proc
    finally:
        stop(proc)
