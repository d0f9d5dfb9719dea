"""The cloud sandbox: E2B through the official `e2b-code-interpreter` client (E2B_API_KEY)."""

from __future__ import annotations

import base64
import contextlib
import uuid
from typing import Any

from e2b import exceptions as e2b_errors
from e2b_code_interpreter import AsyncSandbox

from core.errors import ConfigError, InputError, ServiceError
from tools.code_exec.bubblewrap import MAX_TRANSFER, LocalSandbox
from tools.code_exec.ports import ExecutionResult, OutputPart, SandboxLimits, checked_timeout


class E2BSandbox:
    """One E2B sandbox per session; a one-shot execution gets its own and kills it after."""

    name = "e2b"

    def __init__(
        self,
        api_key: str,
        *,
        limits: SandboxLimits | None = None,
        api_url: str | None = None,
        sandbox_url: str | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._connection: dict[str, Any] = {"api_key": api_key}
        if api_url:
            self._connection["api_url"] = api_url
        if sandbox_url:
            self._connection["sandbox_url"] = sandbox_url
        self._sessions: dict[str, AsyncSandbox] = {}

    async def _sandbox(self, session: str) -> AsyncSandbox:
        if session not in self._sessions:
            if len(self._sessions) >= self.limits.max_sessions:
                raise ServiceError(
                    f"all {self.limits.max_sessions} E2B sessions are in use",
                    hint="close one, or raise the session cap",
                    code="sandbox_busy",
                )
            try:
                self._sessions[session] = await AsyncSandbox.create(
                    timeout=int(self.limits.idle_seconds), **self._connection
                )
            except e2b_errors.AuthenticationException as err:
                raise ConfigError(
                    "E2B refused the API key",
                    hint="check E2B_API_KEY, or unset it to use the local sandbox",
                    code="sandbox_key_invalid",
                ) from err
            except (e2b_errors.SandboxException, OSError) as err:
                raise ServiceError(
                    f"cannot create an E2B sandbox: {err}", code="sandbox_unavailable"
                ) from err
        return self._sessions[session]

    async def execute(
        self, code: str, *, session: str | None = None, timeout: float | None = None
    ) -> ExecutionResult:
        seconds = checked_timeout(self.limits, timeout)  # before a sandbox is taken
        name = session or f"oneshot-{uuid.uuid4().hex[:8]}"
        sandbox = await self._sandbox(name)
        result = ExecutionResult(session=session)
        try:
            execution = await sandbox.run_code(code, timeout=seconds)
        except e2b_errors.TimeoutException:
            result.timed_out = True
            result.error = f"TimeoutError: execution ran past {seconds:g}s"
            return result
        except e2b_errors.SandboxException as err:
            result.error = f"SandboxError: {err}"
            return result
        finally:
            if session is None:
                await self.close(name)
        cap = self.limits.max_output_bytes
        stdout, stderr = "".join(execution.logs.stdout), "".join(execution.logs.stderr)
        result.truncated = len(stdout) + len(stderr) > cap
        result.stdout, result.stderr = stdout[:cap], stderr[: max(0, cap - len(stdout))]
        for item in execution.results:
            if item.is_main_result and item.text is not None:
                result.result = item.text
            if item.png:
                result.parts.append(OutputPart("image/png", item.png))
            elif item.html:
                result.parts.append(OutputPart("text/html", item.html))
        if execution.error is not None:
            result.error = f"{execution.error.name}: {execution.error.value}"
            result.traceback = execution.error.traceback.splitlines()
        return result

    async def upload(self, session: str, path: str, data: bytes) -> None:
        if len(data) > MAX_TRANSFER:
            raise InputError(
                "file too large for the sandbox",
                hint=f"files up to {MAX_TRANSFER // 1024**2} MiB go in and out",
                code="sandbox_file_too_large",
            )
        target = LocalSandbox.checked_path(path)
        encoded = base64.b64encode(data).decode()
        done = await self.execute(
            "import base64, pathlib\n"
            f"_p = pathlib.Path({target!r}); _p.parent.mkdir(parents=True, exist_ok=True)\n"
            f"_p.write_bytes(base64.b64decode({encoded!r})); del _p",
            session=session,
        )
        if not done.ok:
            raise InputError(
                f"upload failed: {done.error}",
                hint="check the path; the sandbox workspace is a small tmpfs",
                code="sandbox_upload_failed",
            )

    async def download(self, session: str, path: str) -> bytes:
        target = LocalSandbox.checked_path(path)
        done = await self.execute(
            "import base64, pathlib\n"
            f"base64.b64encode(pathlib.Path({target!r}).read_bytes()).decode()",
            session=session,
        )
        if not done.ok or done.result is None:
            raise InputError(
                f"cannot download {path!r}: {done.error}",
                hint="list the workspace first, e.g. run `import os; os.listdir()`",
                code="sandbox_file_missing",
            )
        return base64.b64decode(done.result.strip("'\""))

    async def close(self, session: str) -> None:
        sandbox = self._sessions.pop(session, None)
        if sandbox is not None:
            with contextlib.suppress(e2b_errors.SandboxException):  # already gone
                await sandbox.kill()

    async def aclose(self) -> None:
        for name in list(self._sessions):
            await self.close(name)
