"""Starts a real Neo4j 5 server for tests, on loopback, with authentication on.

No Docker and no tarball: `tests/neo4j_server` is a small Java launcher that runs Neo4j
(community, from Maven Central) in-process with Bolt on 127.0.0.1. This module builds it with
Maven when the jar is missing or older than its sources (the first build downloads about 170 MB
into ~/.m2; later builds work offline), then runs it on a free port with a random password.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.net import free_port

PROJECT = Path(__file__).resolve().parents[1] / "neo4j_server"
POM = PROJECT / "pom.xml"
TARGET = PROJECT / "target"
JAR = TARGET / "neo4j-test-server.jar"
DEBIAN_PACKAGES = "openjdk-17-jdk-headless maven"
USER = "neo4j"
# Small and quick to start: the test machine has 2 cores and runs other servers too. C1 only
# (TieredStopAtLevel=1) saves ~100 MB of RSS and some startup CPU; tests run tiny queries.
JVM_OPTIONS = (
    "-Xms32m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
)
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
BUILD_TIMEOUT = 1800.0
_PORT_TRIES = 3


@dataclass(frozen=True)
class Neo4jServer:
    url: str  # bolt://127.0.0.1:PORT
    user: str
    password: str
    pid: int


def _progress(message: str) -> None:
    print(f"[neo4j] {message}", file=sys.stderr, flush=True)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"`{name}` is not on PATH; the Neo4j test server needs Java 17+ and Maven. "
            f"On Debian/Ubuntu: apt-get install {DEBIAN_PACKAGES}"
        )
    return path


def _sources() -> list[Path]:
    return [POM, *(p for p in (PROJECT / "src").rglob("*") if p.is_file())]


def jar_is_stale() -> bool:
    """True when the jar (or its lib/ folder) is missing or older than any source file."""
    if not JAR.is_file() or not (TARGET / "lib").is_dir():
        return True
    built = JAR.stat().st_mtime
    return any(src.stat().st_mtime > built for src in _sources())


def build_jar() -> Path:
    """Builds target/neo4j-test-server.jar with Maven unless it is up to date."""
    if not jar_is_stale():
        return JAR
    _tool("java")
    _tool("javac")  # a JRE alone cannot build it
    mvn = _tool("mvn")
    TARGET.mkdir(exist_ok=True)
    # One build at a time, should several test processes start together.
    with (TARGET / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not jar_is_stale():
            return JAR
        _progress(
            f"building {JAR.relative_to(PROJECT.parent.parent)} with Maven "
            "(the first build downloads Neo4j from Maven Central and may take minutes)"
        )
        started = time.monotonic()
        result = subprocess.run(
            [mvn, "-q", "-B", "package", "-f", str(POM)],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-4000:]
            raise RuntimeError(f"building the Neo4j test server failed:\n{output}")
        if not JAR.is_file():
            raise RuntimeError(f"Maven succeeded but {JAR} is missing")
        JAR.touch()  # up to date even if Maven found nothing to redo
        _progress(f"built in {time.monotonic() - started:.1f}s")
    return JAR


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    """Waits for the launcher's `READY <port>` line on stdout."""
    assert proc.stdout is not None
    expected = f"READY {port}"
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Neo4j did not print {expected!r} within {timeout:.0f}s")
            if not selector.select(timeout=min(left, 1.0)):
                if proc.poll() is not None:
                    raise ChildProcessError(f"Neo4j exited with code {proc.returncode}")
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                proc.wait(timeout=STOP_TIMEOUT)
                raise ChildProcessError(f"Neo4j exited with code {proc.returncode}")
            buffer += chunk
            if b"\n" in buffer:
                line = buffer.split(b"\n", 1)[0].decode(errors="replace").strip()
                if line != expected:
                    raise RuntimeError(f"unexpected line from the launcher: {line!r}")
                return


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the launcher shuts Neo4j down cleanly), then SIGKILL; always reaps."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _progress(f"pid {proc.pid} ignored SIGTERM for {STOP_TIMEOUT:.0f}s; killing it")
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


@contextlib.contextmanager
def neo4j_server(workdir: Path) -> Iterator[Neo4jServer]:
    """A running Neo4j with its store under `workdir/neo4j` and its log in `workdir/neo4j.log`.

    User `neo4j` has a fresh random password; a wrong one is refused. The server stops (and is
    reaped) when the block exits.
    """
    jar = build_jar()
    java = _tool("java")
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "neo4j"
    log = workdir / "neo4j.log"
    password = secrets.token_urlsafe(24)
    for attempt in range(1, _PORT_TRIES + 1):
        port = free_port()
        command = [
            java,
            *JVM_OPTIONS,
            "-jar",
            str(jar),
            str(port),
            str(home),
            password,
        ]
        _progress(f"starting Neo4j on 127.0.0.1:{port} (log: {log})")
        started = time.monotonic()
        with log.open("ab") as log_file:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,  # the launcher also stops when this pipe closes
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=workdir,
            )
        try:
            _wait_ready(proc, port, READY_TIMEOUT)
        except (TimeoutError, ChildProcessError, RuntimeError) as exc:
            _stop(proc)
            tail = _tail(log)
            if "Address already in use" in tail and attempt < _PORT_TRIES:
                _progress(f"port {port} was taken meanwhile; trying another")
                log.write_bytes(b"")
                continue
            raise RuntimeError(f"{exc}\n--- {log} (tail) ---\n{tail}") from exc
        except BaseException:
            _stop(proc)
            raise
        _progress(f"Neo4j ready in {time.monotonic() - started:.1f}s (pid {proc.pid})")
        try:
            yield Neo4jServer(
                url=f"bolt://127.0.0.1:{port}", user=USER, password=password, pid=proc.pid
            )
        finally:
            _stop(proc)
        return
