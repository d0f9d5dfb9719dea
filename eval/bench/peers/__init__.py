"""Peer Agent-Protocol servers for `eval.bench.server`: installed, started and stopped here.

Each peer lives in `<workdir>/peers/<name>/`:
  .venv/       its own virtualenv, made with `uv venv --python PY` and `uv pip install SPEC`
               (UV_PYTHON_DOWNLOADS=never), reused while `.venv/.bench-spec` names the same
               spec and interpreter;
  project/     the trivial graph (a copy of eval/bench/trivial_graph.py) and the peer's config;
  install.log, server.log   what uv and the server printed.
A server runs as its own process group on a free 127.0.0.1 port, so stopping it (SIGTERM, then
SIGKILL after a grace period) reaches whatever it spawned and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

TRIVIAL_GRAPH = Path(__file__).resolve().parents[1] / "trivial_graph.py"
GRAPH_ID = "trivial"
INSTALL_HEARTBEAT_S = 20.0
LOG_TAIL_CHARS = 1500
# The packages whose versions a report names, whichever of them a peer has.
REPORTED_PACKAGES = (
    "aegra-cli",
    "aegra-api",
    "langgraph-cli",
    "langgraph-api",
    "langgraph-runtime-inmem",
    "langgraph",
    "langgraph-checkpoint-postgres",
    "langchain-core",
    "uvicorn",
)
# Variables of the calling shell that would point a peer at something else than its own venv,
# database or a tracing service.
SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "DATABASE_URL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "AEGRA_CONFIG",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_API_KEY",
    "LANGSMITH_TRACING",
    "LANGCHAIN_TRACING_V2",
)

Say = Callable[[str], None]


class PeerError(RuntimeError):
    """A peer could not be installed or started; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    """The last characters of a log file, or '' when there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:].strip()


def find_uv(root: Path) -> list[str]:
    """The uv command: the project's pinned `.tools/uv`, else `uv` on PATH, else `python -m uv`."""
    pinned = root / ".tools" / "uv"
    if pinned.is_file():
        return [str(pinned)]
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def default_python() -> str:
    """The interpreter this process runs on, outside any virtualenv."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)).resolve())


@dataclass
class InstallResult:
    """How a peer's virtualenv came to be: seconds spent (None: reused) and what it holds."""

    seconds: float | None
    python_version: str
    versions: dict[str, str] = field(default_factory=dict)


@dataclass
class Peer:
    """One peer server: how to install it, configure it for the trivial graph and start it."""

    name: str
    title: str
    spec: list[str]  # what `uv pip install` gets
    config_name: str  # the config file written into the project dir
    home: Path  # <workdir>/peers/<name>
    uv: list[str]
    python: str

    @property
    def venv(self) -> Path:
        return self.home / ".venv"

    @property
    def project(self) -> Path:
        return self.home / "project"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    # -- install -------------------------------------------------------------------------

    def _marker(self) -> str:
        return json.dumps({"spec": self.spec, "python": self.python}, sort_keys=True)

    def install(self, say: Say, *, reinstall: bool = False) -> InstallResult:
        """Make the virtualenv (or reuse a matching one) and return what it holds."""
        marker = self.venv / ".bench-spec"
        reuse = (
            not reinstall
            and (self.bin / "python").exists()
            and marker.is_file()
            and marker.read_text() == self._marker()
        )
        seconds: float | None = None
        if reuse:
            say(f"{self.title}: reusing {self.venv} (--reinstall to start over)")
        else:
            if self.venv.exists():
                shutil.rmtree(self.venv)
            self.home.mkdir(parents=True, exist_ok=True)
            log = self.home / "install.log"
            log.write_text("")
            env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
            for key in ("VIRTUAL_ENV", "PYTHONPATH"):
                env.pop(key, None)
            began = time.perf_counter()
            say(f"{self.title}: creating {self.venv} with {self.python}")
            self._run([*self.uv, "venv", "--python", self.python, str(self.venv)], log, env, say)
            say(f"{self.title}: installing {' '.join(self.spec)} (log: {log})")
            self._run(
                [*self.uv, "pip", "install", "--python", str(self.bin / "python"), *self.spec],
                log,
                env,
                say,
            )
            seconds = time.perf_counter() - began
            marker.write_text(self._marker())
            say(f"{self.title}: installed in {seconds:.1f} s")
        return InstallResult(seconds, self._python_version(), self._versions())

    def _run(self, argv: list[str], log: Path, env: Mapping[str, str], say: Say) -> None:
        with log.open("a") as sink:
            sink.write(f"$ {' '.join(argv)}\n")
            sink.flush()
            began = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=dict(env))
            beat = began
            while proc.poll() is None:
                time.sleep(0.5)
                now = time.perf_counter()
                if now - beat >= INSTALL_HEARTBEAT_S:
                    beat = now
                    say(f"{self.title}: ... still working ({now - began:.0f} s)")
        if proc.returncode != 0:
            raise PeerError(
                f"`{' '.join(argv[:3])} ...` exited {proc.returncode}:\n{tail(log, 1200)}"
            )

    def _python_version(self) -> str:
        done = subprocess.run(
            [str(self.bin / "python"), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or "?"

    def _versions(self) -> dict[str, str]:
        done = subprocess.run(
            [*self.uv, "pip", "list", "--python", str(self.bin / "python"), "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            listed = json.loads(done.stdout)
        except ValueError:
            return {}
        have = {str(row["name"]).lower(): str(row["version"]) for row in listed}
        return {name: have[name] for name in REPORTED_PACKAGES if name in have}

    # -- configure and start -------------------------------------------------------------

    def write_project(self) -> Path:
        """Copy the trivial graph next to the peer's config and return the project dir."""
        self.project.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TRIVIAL_GRAPH, self.project / "trivial_graph.py")
        config = {"dependencies": ["."], "graphs": {GRAPH_ID: "./trivial_graph.py:graph"}}
        (self.project / self.config_name).write_text(json.dumps(config, indent=2) + "\n")
        return self.project

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def extra_env(self) -> dict[str, str]:
        return {}

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["LANGSMITH_TRACING"] = "false"
        env.update(self.extra_env())
        return env

    def start(self, port: int) -> ServerProcess:
        """Start the server on 127.0.0.1:port in the project dir, logging to server.log."""
        self.write_project()
        log = self.home / "server.log"
        sink = log.open("w")
        try:
            proc = subprocess.Popen(
                self.command(port),
                cwd=self.project,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        finally:
            sink.close()
        return ServerProcess(proc, log, f"http://127.0.0.1:{port}")


@dataclass
class ServerProcess:
    """A started peer server."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def exited(self) -> int | None:
        return self.proc.poll()

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it outlives the grace period."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.proc.wait(timeout=grace)
        # Children that outlived the leader are still in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
