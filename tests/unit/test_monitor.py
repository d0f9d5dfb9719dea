"""The service watcher of `daert serve`, on real processes: a tiny TCP server stands in for a
service (the real ones are tested end to end in tests/e2e/test_serve.py)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from daert.cli.render import crash_reports, records_table, status_json
from daert.health import ComponentHealth, apply_supervision
from daert.services.monitor import CrashHistory, RestartPolicy, ServiceMonitor
from daert.services.process import LaunchSpec, describe_exit
from daert.services.supervisor import Managed, Supervisor

# Listens on the port it is given; with CRASH set, segfaults right after its first connection
# (the supervisor's readiness check), like a model server that dies on its first request.
SERVER = """
import os, signal, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening on", sys.argv[1], flush=True)
while True:
    conn, _ = s.accept()
    conn.close()
    if os.environ.get("CRASH"):
        print("about to crash", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
"""


class TinyServer:
    """A real process behind the EmbeddedService port."""

    title = "Tiny test server"
    stop_signal: int = signal.SIGTERM

    def __init__(self, name: str, *, crash: bool) -> None:
        self.name = name
        self.crash = crash

    def prepare(self) -> None:
        return None

    def launch(self, port: int) -> LaunchSpec:
        env = {"CRASH": "1"} if self.crash else {}
        return LaunchSpec(argv=[sys.executable, "-c", SERVER, str(port)], env=env)

    def url(self, port: int) -> str:
        return f"tcp://127.0.0.1:{port}"

    def ready(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def finalize(self, port: int) -> None:
        return None

    def version(self) -> str:
        return "tiny 1"

    def find_running(self) -> tuple[int, int] | None:
        return None


FAST = RestartPolicy(max_crashes=3, window=600, first_delay=0, max_delay=0, poll_interval=0.02)


@pytest.fixture
def supervisors(data_dir: Path) -> Iterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def make(*services: TinyServer) -> Supervisor:
        supervisor = Supervisor(data_dir, [Managed(s) for s in services], start_timeout=30)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.down()


def until(condition: Callable[[], bool], step: Callable[[], None], limit: float = 60) -> None:
    """Run `step` until `condition` holds; fail after `limit` seconds (a guard, not a measure)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        step()
        time.sleep(0.02)


def test_crash_history_backs_off_and_gives_up_within_its_window() -> None:
    history = CrashHistory(RestartPolicy(max_crashes=4, window=100, first_delay=1, max_delay=3))
    assert [history.record(t) for t in (0, 1, 2)] == [1, 2, 3]  # doubled, then capped
    assert history.record(150) == 1  # the first three fell out of the window
    assert history.count(150) == 1
    assert [history.record(t) for t in (151, 152)] == [2, 3]
    assert history.record(153) is None  # the fourth within 100 s: give up


def test_describe_exit_names_the_signal() -> None:
    assert describe_exit(-signal.SIGSEGV) == ("killed by SIGSEGV", "SIGSEGV")
    assert describe_exit(3) == ("exited with code 3", None)
    assert describe_exit(None)[1] is None


def test_gives_up_after_repeated_crashes_and_says_how_they_ended(
    supervisors: Callable[..., Supervisor],
) -> None:
    supervisor = supervisors(TinyServer("tiny", crash=True))
    first = supervisor.up(detached=False)["tiny"]
    messages: list[str] = []
    monitor = ServiceMonitor(supervisor, policy=FAST, progress=messages.append)
    monitor.start()
    try:
        until(
            lambda: getattr(supervisor.supervision().get("tiny"), "state", None) == "failed",
            lambda: None,
        )
    finally:
        monitor.stop()
        supervisor.down()
        monitor.join()
    seen = supervisor.state.read_supervision("tiny")  # down() keeps no record: read the file
    assert seen is None  # a deliberate `down` forgets earlier crashes

    # Run it again, step by step this time, to look at the verdict before anything is stopped.
    supervisor.up(detached=False)
    monitor = ServiceMonitor(supervisor, policy=FAST, progress=messages.append)
    until(lambda: "tiny" in supervisor.supervision() and _failed(supervisor), monitor.tick)
    verdict = supervisor.supervision()["tiny"]
    assert verdict.restarts == FAST.max_crashes - 1 and verdict.crashes == FAST.max_crashes
    assert verdict.last_exit is not None and verdict.last_exit.signal == "SIGSEGV"
    assert verdict.last_exit.how == "killed by SIGSEGV"
    assert "about to crash" in verdict.last_exit.log_tail
    assert str(supervisor.log_path("tiny")) in verdict.hint and "daert up" in verdict.hint
    assert "stopped restarting" in verdict.message
    assert supervisor.status()["tiny"] is None
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == "zombie"
    assert any("killed by SIGSEGV" in m for m in messages)

    # Given up means given up: more passes start nothing.
    spawned = supervisor.log_path("tiny").read_text().count("listening on")
    for _ in range(5):
        monitor.tick()
    assert supervisor.log_path("tiny").read_text().count("listening on") == spawned

    # What /readyz, `daert doctor` and `daert status` make of it.
    [probed] = apply_supervision(
        [ComponentHealth("model", "Model", "embedded", True, healthy=True)],
        {"model": verdict},
    )
    assert not probed.healthy and probed.error == verdict.message and probed.hint == verdict.hint
    assert probed.details["last_exit"].startswith("killed by SIGSEGV")
    shown = status_json(supervisor.status(), supervisor.supervision())["tiny"]
    assert shown is not None and shown["state"] == "failed"
    assert shown["supervision"]["last_exit"]["signal"] == "SIGSEGV"
    assert "about to crash" in crash_reports(supervisor.supervision())[0]
    assert records_table(supervisor.status(), supervisor.data_dir, supervisor.supervision())

    # Started again by hand (`daert up`): watched again, and the old verdict no longer applies.
    supervisor.services = [Managed(TinyServer("tiny", crash=False))]
    again = supervisor.up(detached=True)["tiny"]
    monitor.tick()
    assert supervisor.supervision() == {}
    assert supervisor.status()["tiny"] == again


def _failed(supervisor: Supervisor) -> bool:
    return supervisor.supervision()["tiny"].state == "failed"


def test_a_killed_service_comes_back_on_its_port(supervisors: Callable[..., Supervisor]) -> None:
    supervisor = supervisors(TinyServer("tiny", crash=False))
    first = supervisor.up(detached=False)["tiny"]
    monitor = ServiceMonitor(supervisor, policy=FAST)
    monitor.tick()  # adopts what runs
    os.kill(first.pid, signal.SIGKILL)
    until(lambda: getattr(supervisor.status()["tiny"], "pid", first.pid) != first.pid, monitor.tick)
    back = supervisor.status()["tiny"]
    assert back is not None and back.port == first.port and not back.detached
    seen = supervisor.supervision()["tiny"]
    assert seen.state == "running" and seen.restarts == 1 and seen.pid == back.pid
    assert seen.last_exit is not None and seen.last_exit.signal == "SIGKILL"


def test_a_deliberate_stop_is_not_a_crash(supervisors: Callable[..., Supervisor]) -> None:
    supervisor = supervisors(TinyServer("tiny", crash=False))
    supervisor.up(detached=True)
    monitor = ServiceMonitor(supervisor, policy=FAST)
    monitor.tick()
    assert supervisor.down() == ["tiny"]
    for _ in range(5):
        monitor.tick()
    assert supervisor.status()["tiny"] is None
    assert supervisor.supervision() == {}
    restarted = supervisor.up(detached=True)["tiny"]  # `daert up` later: watched again
    monitor.tick()
    os.kill(restarted.pid, signal.SIGTERM)
    until(lambda: "tiny" in supervisor.supervision(), monitor.tick)
    # A crash of a service that `daert up` started is seen too; it comes back detached, as it was.
    until(lambda: supervisor.status()["tiny"] is not None, monitor.tick)
    back = supervisor.status()["tiny"]
    assert back is not None and back.detached and back.pid != restarted.pid


def test_a_restart_that_fails_counts_as_a_crash(supervisors: Callable[..., Supervisor]) -> None:
    supervisor = supervisors(TinyServer("tiny", crash=False))
    first = supervisor.up(detached=False)["tiny"]
    monitor = ServiceMonitor(supervisor, policy=FAST)
    monitor.tick()
    with socket.socket() as squatter:  # another program takes the port while tiny is down
        os.kill(first.pid, signal.SIGKILL)
        psutil.Process(first.pid).wait(10)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", first.port))
        squatter.listen()
        until(lambda: _state(supervisor) == "failed", monitor.tick)
    verdict = supervisor.supervision()["tiny"]
    assert verdict.last_exit is not None
    assert f"port {first.port}" in verdict.last_exit.how  # it never moved to another port


def _state(supervisor: Supervisor) -> str | None:
    seen = supervisor.supervision().get("tiny")
    return seen.state if seen else None
