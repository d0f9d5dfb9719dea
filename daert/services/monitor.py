"""The watcher of `daert serve`: notices an embedded service that died, says how, brings it back.

One background thread, owned by the serve lifecycle, checks every service about once a second.
A death that `daert down` did not cause is a crash: the exit code or signal and the last lines of
the service's log are recorded (`<data_dir>/run/<name>.supervision.json`, read by `/readyz`,
`daert status` and `daert doctor`), and the service is started again on the same port after a
backoff (1 s, 2 s, 4 s ... up to 30 s). After `max_crashes` crashes within `window` seconds it
stops trying and says so, with the fix, until someone starts the service again.

Restarts run in this thread on purpose: a service spawned for `daert serve` gets a parent-death
signal tied to the spawning thread, so the thread lives until its services are stopped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import DaertError
from daert.services.process import describe_exit, log_tail
from daert.services.state import ExitReport, ServiceRecord, Supervision, SupervisionState
from daert.services.supervisor import Supervisor

log = logging.getLogger("daert.services")

Progress = Callable[[str], None]

NATIVE_CRASHES = frozenset({"SIGSEGV", "SIGILL", "SIGBUS", "SIGFPE", "SIGABRT"})


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a crashed service, and when to give up on it."""

    max_crashes: int = 5
    """Crashes within `window` seconds after which daert stops restarting."""
    window: float = 300.0
    first_delay: float = 1.0
    max_delay: float = 30.0
    poll_interval: float = 1.0


class CrashHistory:
    """The crashes of one service within the policy's window: the next delay, or give up."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._times: deque[float] = deque()

    def _forget_before(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.policy.window:
            self._times.popleft()

    def record(self, now: float) -> float | None:
        """Count a crash at `now`; the delay before the next restart, None to give up."""
        self._forget_before(now)
        self._times.append(now)
        crashes = len(self._times)
        if crashes >= self.policy.max_crashes:
            return None
        return float(min(self.policy.first_delay * 2 ** (crashes - 1), self.policy.max_delay))

    def count(self, now: float) -> int:
        self._forget_before(now)
        return len(self._times)

    def clear(self) -> None:
        self._times.clear()


@dataclass
class _Watch:
    """The watcher's view of one service."""

    record: ServiceRecord
    history: CrashHistory
    state: SupervisionState | None = "running"
    """None: stopped on purpose (`daert down`); nothing to restart, nothing to report."""
    restarts: int = 0
    last_exit: ExitReport | None = None
    next_attempt: float = 0.0
    next_attempt_wall: float | None = None
    message: str = ""
    hint: str = ""


def _quiet(_: str) -> None:
    return None


class ServiceMonitor:
    """Watches one supervisor's services: `tick()` is one pass, `start()` loops it in a thread."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        policy: RestartPolicy | None = None,
        progress: Progress = _quiet,
    ) -> None:
        self.supervisor = supervisor
        self.policy = policy or RestartPolicy()
        self.progress = progress
        self._watches: dict[str, _Watch] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._titles = {m.service.name: m.service.title for m in supervisor.services}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Watch in a background thread until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="daert-service-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No restart from now on; one under way is abandoned. Returns at once."""
        self._stopping.set()

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the thread to end; call after the services it restarted were stopped."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                # The thread must outlive any one failure: its end would send the parent-death
                # signal to every service it restarted.
                log.exception("the service monitor hit an unexpected error; it keeps watching")
            self._stopping.wait(self.policy.poll_interval)

    # -- one pass --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Check every service once: adopt what runs, notice deaths, restart what is due."""
        for managed in self.supervisor.services:
            if self._stopping.is_set():
                return
            name = managed.service.name
            watch = self._watches.get(name)
            if watch is None:
                # Alive or not: one that died since `up()` recorded it is a crash like any other.
                record = self.supervisor.state.read(name)
                if record is None:
                    continue
                watch = self._watches[name] = _Watch(record, CrashHistory(self.policy))
            if watch.state == "running":
                dead, code = self.supervisor.exit_status(watch.record)
                if dead:
                    self._on_death(name, watch, code)
            elif watch.state == "restarting":
                if time.monotonic() >= watch.next_attempt:
                    self._restart(name, watch)
            else:  # stopped or given up: someone (`daert up`) may have started it again
                self._adopt(name, watch)

    def _adopt(self, name: str, watch: _Watch) -> None:
        record = self.supervisor.running(name)
        if record is None:
            return
        if watch.state == "failed":
            self.progress(
                f"{self._title(name)}: started again (pid {record.pid}); watching it again"
            )
        watch.record = record
        watch.state = "running"
        watch.history.clear()
        watch.restarts = 0
        watch.last_exit = None

    def _on_death(self, name: str, watch: _Watch, code: int | None) -> None:
        dead = watch.record
        if self.supervisor.confirm_exit(name, dead.pid) is None:
            # Stopped on purpose, or already replaced by another process (`daert up`).
            replaced = self.supervisor.running(name)
            if replaced is not None:
                watch.record = replaced
            else:
                watch.state = None
            return
        how, signal_name = describe_exit(code)
        report = ExitReport(
            pid=dead.pid,
            at=time.time(),
            how=how,
            exit_code=code,
            signal=signal_name,
            log_tail=log_tail(self.supervisor.log_path(name)),
        )
        self._crashed(name, watch, report)

    def _crashed(self, name: str, watch: _Watch, report: ExitReport) -> None:
        watch.last_exit = report
        delay = watch.history.record(time.monotonic())
        crashes = watch.history.count(time.monotonic())
        title = self._title(name)
        log_path = self.supervisor.log_path(name)
        if delay is None:
            watch.state = "failed"
            watch.next_attempt_wall = None
            watch.message = (
                f"{title} crashed {crashes} times within {self.policy.window:.0f} s (last: "
                f"{report.how}); daert stopped restarting it"
            )
            watch.hint = self._give_up_hint(name, report)
            self.progress(
                f"{title}: {report.how}; {watch.message}. Last lines of {log_path}:\n"
                f"{report.log_tail}\nfix: {watch.hint}"
            )
        else:
            watch.state = "restarting"
            watch.next_attempt = time.monotonic() + delay
            watch.next_attempt_wall = time.time() + delay
            watch.message = (
                f"{title} {report.how}; restarting it on port {watch.record.port} in "
                f"{delay:.0f} s (crash {crashes} of {self.policy.max_crashes} allowed within "
                f"{self.policy.window:.0f} s)"
            )
            watch.hint = f"wait for the restart; if it keeps crashing, read {log_path}"
            self.progress(
                f"{title}: {report.how}; last lines of {log_path}:\n{report.log_tail}\n"
                f"restarting it in {delay:.0f} s"
            )
        self._write(name, watch, pid=report.pid)

    def _give_up_hint(self, name: str, report: ExitReport) -> str:
        log_path = self.supervisor.log_path(name)
        hint = (
            f"read {log_path} (`daert status` shows its last lines), fix the cause, then run "
            "`daert up` or restart `daert serve`"
        )
        if report.signal in NATIVE_CRASHES and name == "model":
            hint += (
                "; a crash in native code on every start often means a llama.cpp built for "
                "another CPU: daert's install builds it for x86-64-v3 (AVX2, `GGML_NATIVE=OFF`); "
                "for an older CPU see 'llama.cpp for this CPU' in the README"
            )
        return hint

    def _restart(self, name: str, watch: _Watch) -> None:
        title = self._title(name)
        try:
            record = self.supervisor.restart(
                name,
                port=watch.record.port,
                detached=watch.record.detached,
                cancelled=self._stopping.is_set,
                progress=self.progress,
            )
        except DaertError as err:
            if self._stopping.is_set():
                return
            pid, code = watch.record.pid, None
            attempt = self.supervisor.last_start(name)
            if attempt is not None and attempt[0] != watch.record.pid:  # it did spawn, then died
                pid, code = attempt
            first_line = err.message.splitlines()[0] if err.message else err.code
            self._crashed(
                name,
                watch,
                ExitReport(
                    pid=pid,
                    at=time.time(),
                    how=f"failed to restart ({first_line})",
                    exit_code=code,
                    signal=describe_exit(code)[1] if code is not None else None,
                    log_tail=log_tail(self.supervisor.log_path(name)),
                ),
            )
            return
        watch.record = record
        watch.state = "running"
        watch.restarts += 1
        watch.next_attempt_wall = None
        last = watch.last_exit.how if watch.last_exit else "died"
        watch.message = f"{title} was restarted {watch.restarts}x by daert serve (last: {last})"
        watch.hint = ""
        self.progress(f"{title}: back on 127.0.0.1:{record.port} (pid {record.pid})")
        self._write(name, watch, pid=record.pid)

    def _write(self, name: str, watch: _Watch, *, pid: int) -> None:
        assert watch.state is not None  # noqa: S101 - only called for a watched service
        self.supervisor.state.write_supervision(
            Supervision(
                name=name,
                state=watch.state,
                pid=pid,
                watcher_pid=os.getpid(),
                restarts=watch.restarts,
                crashes=watch.history.count(time.monotonic()),
                max_crashes=self.policy.max_crashes,
                window_s=self.policy.window,
                log_path=str(self.supervisor.log_path(name)),
                message=watch.message,
                hint=watch.hint,
                last_exit=watch.last_exit,
                next_attempt_at=watch.next_attempt_wall,
            )
        )

    def _title(self, name: str) -> str:
        return self._titles.get(name, name)
