"""The CodeSandbox port, its limits and what an execution returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use. Every limit ends in a clean error, never a hung host."""

    timeout: float = 30.0  # wall clock per execution
    memory_bytes: int = 2 * 1024**3  # address space per process
    cpu_seconds: int = 900  # per process, a backstop behind the timeout
    file_bytes: int = 64 * 1024**2  # largest file a process may write
    processes: int = 256  # processes and threads of the sandbox user (fork bombs)
    workspace_bytes: int = 256 * 1024**2  # the private /workspace tmpfs
    max_output_bytes: int = 1024**2  # stdout + stderr kept per execution
    max_sessions: int = 8
    idle_seconds: float = 900.0  # a session unused this long is reaped


@dataclass(frozen=True)
class OutputPart:
    """A rich output: `image/png` (base64) or `text/html`."""

    mime: str
    data: str


@dataclass
class ExecutionResult:
    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # text/plain of the last expression
    error: str | None = None  # "Name: message"
    traceback: list[str] = field(default_factory=list)
    parts: list[OutputPart] = field(default_factory=list)
    timed_out: bool = False
    truncated: bool = False
    session: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class CodeSandbox(Protocol):
    """Runs Python code in isolation; a session keeps its state between calls."""

    name: str

    async def execute(
        self, code: str, *, session: str | None = None, timeout: float | None = None
    ) -> ExecutionResult: ...

    async def upload(self, session: str, path: str, data: bytes) -> None: ...

    async def download(self, session: str, path: str) -> bytes: ...

    async def close(self, session: str) -> None: ...

    async def aclose(self) -> None: ...
