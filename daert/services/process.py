"""Starting and stopping service processes so that none outlives its owner by accident.

A service started for `daert serve` gets a parent-death signal, so a crash (even SIGKILL) of
the server takes its services down with it; one started by `daert up` is detached on purpose
and lives until `daert down`. Both run in their own session, away from the terminal's Ctrl-C,
and are stopped by the supervisor in order.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from core.errors import ServiceError

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one service: the command, its environment, and who runs it."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    run_as: str | None = None
    stop_signal: int = signal.SIGTERM
    """Sent to stop it, and by the kernel when its owner dies (unless detached)."""


def _libc_prctl() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


def _child_setup(
    uid: int | None, gid: int | None, parent_pid: int, death_signal: int | None
) -> Callable[[], None]:
    prctl = _libc_prctl() if death_signal is not None else None  # resolved before fork

    def setup() -> None:
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        # After setuid: a credential change clears the parent-death signal.
        if prctl is not None and death_signal is not None:
            prctl(_PR_SET_PDEATHSIG, death_signal)
            if os.getppid() != parent_pid:  # the owner died before we got here
                os._exit(1)

    return setup


def spawn(spec: LaunchSpec, log_path: Path, *, detached: bool) -> subprocess.Popen[bytes]:
    """Start `spec` with stdout and stderr appended to `log_path`."""
    uid = gid = None
    if spec.run_as is not None:
        entry = pwd.getpwnam(spec.run_as)
        uid, gid = entry.pw_uid, entry.pw_gid
    env = {**os.environ, **spec.env}
    death = None if detached else spec.stop_signal
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            return subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_child_setup(uid, gid, os.getpid(), death),  # noqa: PLW1509 - setuid+pdeathsig
                close_fds=True,
            )
        except OSError as err:
            raise ServiceError(
                f"cannot run {spec.argv[0]}: {err}",
                hint="reinstall with `make run` (it installs the embedded extras)",
                code="service_binary_missing",
            ) from err


def stop(pid: int, sig: int, timeout: float = 30.0) -> None:
    """Ask the process to stop with `sig`, then kill it if it has not exited within `timeout`."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    except psutil.NoSuchProcess:
        return


def describe_exit(returncode: int | None) -> tuple[str, str | None]:
    """How a process ended, in words, and the name of the signal that ended it (if one did).

    `None` means the status is unknown: only the parent can read it, and daert was not.
    """
    if returncode is None:
        return "died (exit status unknown: it was not started by this process)", None
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}", name
    return f"exited with code {returncode}", None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    *,
    name: str,
    timeout: float,
    log_path: Path,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Poll `ready()` until it is true; fail early with the log tail when the process exits.

    `cancelled` lets an owner that is shutting down abandon the start: the process is killed.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if proc.poll() is not None:
            how, _ = describe_exit(proc.returncode)
            raise ServiceError(
                f"embedded {name} {how} while starting; "
                f"last lines of {log_path}:\n{log_tail(log_path)}",
                hint=f"read {log_path}; `daert doctor` checks the whole stack",
                code=f"{name}_start_failed",
            )
        if cancelled is not None and cancelled():
            stop(proc.pid, signal.SIGKILL, 5)
            raise ServiceError(
                f"the start of the embedded {name} was abandoned: daert is shutting down",
                code=f"{name}_start_cancelled",
            )
        if ready():
            return
        if time.monotonic() > deadline:
            stop(proc.pid, signal.SIGKILL, 5)
            raise ServiceError(
                f"embedded {name} did not become ready within {timeout:.0f}s; "
                f"last lines of {log_path}:\n{log_tail(log_path)}",
                hint="raise DAERT_START_TIMEOUT on a slow machine, or read the log above",
                code=f"{name}_start_timeout",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
