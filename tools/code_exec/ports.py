"""The CodeSandbox port, its limits and what an execution returns."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import InputError, require_match

SESSION_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use. Every limit ends in a clean error, never a hung host."""

    timeout: float = 30.0  # wall clock per execution, when the caller names none
    max_timeout: float = 120.0  # the longest a caller may ask for: a session is held that long
    memory_bytes: int = 2 * 1024**3  # address space per process
    cpu_seconds: int = 900  # per process, a backstop behind the timeout
    file_bytes: int = 64 * 1024**2  # largest file a process may write
    processes: int = 256  # processes and threads of the sandbox user (fork bombs)
    workspace_bytes: int = 256 * 1024**2  # the private /workspace tmpfs
    max_output_bytes: int = 1024**2  # stdout + stderr kept per execution
    max_sessions: int = 8
    idle_seconds: float = 900.0  # a session unused this long is reaped


def checked_timeout(limits: SandboxLimits, timeout: float | None) -> float:
    """The execution's timeout: the default when none is asked, else one within the cap."""
    if timeout is None:
        return min(limits.timeout, limits.max_timeout)
    if not (math.isfinite(timeout) and 0 < timeout <= limits.max_timeout):
        raise InputError(
            f"a timeout of {timeout:g} s is not allowed; the limit is {limits.max_timeout:g} s",
            hint=f"ask for more than 0 and at most {limits.max_timeout:g} seconds, or raise "
            "DAERT_CODE_MAX_TIMEOUT where the sandbox runs",
            code="timeout_out_of_range",
        )
    return timeout


def check_session_name(name: str) -> str:
    """A named session's name, refused unless it is 1-64 letters, digits and . _ -."""
    return require_match(
        SESSION_NAME, name, what="session name", code="invalid_session",
        hint="session names are 1-64 letters, digits and . _ -",
    )  # fmt: skip


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
