"""daert itself as a target of `eval.bench.server`, started and stopped by the bench.

    python -m daert --data-dir <workdir>/daert-data serve --host 127.0.0.1 --port P

run from this checkout with this interpreter, with the trivial graph registered as `trivial`
(DAERT_GRAPHS), no rate limit, warnings-only logs, and as its chat model the OpenAI double
(`python -m agents.testing.openai_double --delay D`, a process of its own that answers every
chat completion after a fixed delay), so no llama.cpp is started: no tools, no memory, no
semantic cache, no model retries. Every other DAERT_* variable of the calling shell is left
out, so the server sees only this configuration.

The embedded services (PostgreSQL, Redis) come up with `daert up` when something needs them
before the server starts (Aegra's database, when the bench is given no --postgres-url); the
server then reuses them. The server is stopped with SIGTERM (its own services stop with it),
and `daert down` stops whatever `up` started. Logs: `<workdir>/daert/{server,double,cli}.log`;
the services' own logs are under `<data dir>/logs/`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from eval.bench.peers import GRAPH_ID, SCRUBBED_ENV, PeerError, ServerProcess, free_port, tail

ROOT = Path(__file__).resolve().parents[3]
GRAPH_PATH = "eval.bench.trivial_graph:graph"
DOUBLE_TEXT = "hello from the double"  # what the double answers (its default Reply)
# The packages whose versions the report names for daert (this interpreter's).
REPORTED_PACKAGES = ("daert", "langgraph", "langchain-core", "uvicorn", "litellm", "procrastinate")


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in REPORTED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


@dataclass
class Double:
    """The OpenAI double in a process of its own, on a port chosen before it starts."""

    log: Path
    delay: float
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 30.0) -> float:
        """Start it and wait until `/v1/models` answers; return the seconds that took."""
        if self.proc is not None:
            return 0.0
        self.log.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        with self.log.open("w") as sink:
            argv = [sys.executable, "-m", "agents.testing.openai_double"]
            self.proc = subprocess.Popen(
                [*argv, "--port", str(self.port), "--delay", str(self.delay)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.perf_counter() - began < timeout:
            if (code := self.proc.poll()) is not None:
                raise PeerError(f"the OpenAI double exited with {code}:\n{tail(self.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/models", timeout=2.0).status_code == 200:
                    return time.perf_counter() - began
            time.sleep(0.2)
        raise PeerError(f"the OpenAI double did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            ServerProcess(self.proc, self.log, self.url).stop(grace=5.0)
            self.proc = None


@dataclass
class DaertStack:
    """The embedded services and the server of one data dir, as the bench uses them."""

    data_dir: Path
    home: Path  # <workdir>/daert: logs
    double: Double
    graph: str = GRAPH_ID
    services_up: bool = False  # `daert up` ran (so `daert down` must run)
    server: ServerProcess | None = None
    touched: bool = False  # anything was started for this data dir

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("DAERT_") and key not in SCRUBBED_ENV
        }
        models = {"chat": [{"model": "openai/double", "api_base": self.double.url}]}
        env.update(
            DAERT_GRAPHS=json.dumps({self.graph: GRAPH_PATH}),
            DAERT_RATE_LIMIT_PER_MINUTE="0",
            DAERT_LOG_LEVEL="warning",
            DAERT_MODELS=json.dumps(models),
            DAERT_MODEL_RETRIES="0",
            DAERT_ASSISTANT_TOOLS="[]",
            DAERT_MEMORY_ENABLED="false",
            DAERT_CACHE_ENABLED="false",
            LANGSMITH_TRACING="false",
        )
        return env

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "daert", "--data-dir", str(self.data_dir), *args]

    def cli(self, *args: str, timeout: float = 180.0) -> str:
        """Run a daert command for this data dir; its stdout, or PeerError with its output."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                self._argv(*args),
                cwd=ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"`daert {' '.join(args)}` ran past {timeout:.0f} s") from exc
        with (self.home / "cli.log").open("a") as log:
            log.write(f"$ daert {' '.join(args)}  (exit {done.returncode})\n")
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()[-1500:]
            raise PeerError(f"`daert {' '.join(args)}` exited {done.returncode}:\n{output}")
        return done.stdout

    def up(self) -> None:
        """Start the embedded services (reused when they already run)."""
        self.touched = True
        self.cli("up")
        self.services_up = True

    def postgres_url(self) -> str:
        """The embedded PostgreSQL's URL with its real password (`up` first when needed)."""
        if not self.services_up and self.server is None:
            self.up()
        status = json.loads(self.cli("status", "--json"))
        record = status.get("postgres") or {}
        if not record.get("url") or not record.get("port"):
            raise PeerError(f"`daert status --json` shows no running PostgreSQL: {record}")
        try:
            password = (self.data_dir / "postgres.password").read_text().strip()
        except OSError as exc:
            raise PeerError(f"no PostgreSQL password in {self.data_dir}: {exc}") from exc
        parts = urlsplit(str(record["url"]))
        user = quote(parts.username or "postgres", safe="")
        netloc = f"{user}:{quote(password, safe='')}@127.0.0.1:{int(record['port'])}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def serve(self) -> ServerProcess:
        """Start `daert serve` on a free port (the double first); wait for it with `ready`."""
        if self.server is not None:
            return self.server
        self.touched = True
        self.double.start()
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = self.home / "server.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                self._argv("serve", "--host", "127.0.0.1", "--port", str(port)),
                cwd=ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.server = ServerProcess(proc, log, f"http://127.0.0.1:{port}")
        return self.server

    def ready(self, timeout: float) -> float:
        """Seconds until the started server's /healthz answers 200; PeerError if it never does."""
        server = self.serve()
        began = time.perf_counter()
        last = "no answer yet"
        while time.perf_counter() - began < timeout:
            if (code := server.exited()) is not None:
                raise PeerError(
                    f"daert serve exited with {code} before answering:\n{tail(server.log)}"
                )
            try:
                answer = httpx.get(f"{server.url}/healthz", timeout=2.0)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code == 200:
                    return time.perf_counter() - began
                last = f"HTTP {answer.status_code}"
            time.sleep(0.25)
        raise PeerError(
            f"daert serve gave no /healthz within {timeout:.0f} s ({last}):\n{tail(server.log)}"
        )

    def stop_server(self, grace: float = 30.0) -> None:
        """SIGTERM the server (it stops the services it started itself), SIGKILL if it hangs."""
        server, self.server = self.server, None
        if server is None or server.exited() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=grace)
        server.stop(grace=5.0)  # anything left in its process group

    def close(self) -> list[str]:
        """Stop the server, `daert down`, stop the double; the problems met, if any."""
        problems: list[str] = []
        self.stop_server()
        if self.touched:
            try:
                self.cli("down", timeout=120.0)
            except PeerError as exc:
                problems.append(str(exc))
            self.services_up = False
        self.double.stop()
        return problems
