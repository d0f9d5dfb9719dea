"""The local sandbox: an IPython kernel inside bubblewrap, spoken to over Jupyter's ipc transport.

Inside: new mount, pid, network (no route out, not even to the host's loopback), ipc and uts
namespaces (and a user namespace when daert is not root); the interpreter and its packages
read-only; nothing else of the host's files; a size-limited tmpfs as /workspace and /tmp; no
capabilities; an unprivileged uid (when daert runs as root; bubblewrap binds as root, so an
interpreter in root's 0700 home works, then `setpriv` drops to the sandbox user) so that the
process limit holds; rlimits on memory, CPU, file size and processes. Interrupts go as
Jupyter messages, since a signal would only reach bubblewrap.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import psutil

from core.errors import ConfigError, InputError, ServiceError
from core.system import system_user
from tools.code_exec.ports import ExecutionResult, OutputPart, SandboxLimits, checked_timeout

SANDBOX_USER = "daert-sandbox"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_TRANSFER = 32 * 1024**2


def check_available() -> None:
    """Refuse, with the fix, when this machine cannot run the local sandbox at all."""
    missing = [m for m in ("jupyter_client", "ipykernel") if importlib.util.find_spec(m) is None]
    if missing:
        raise ServiceError(
            f"the local code sandbox needs {' and '.join(missing)}, which is not installed",
            hint="install daert's `sandbox` extra (`make setup`, or `uv sync --extra sandbox`); "
            "or set E2B_API_KEY to run code in E2B instead",
            code="sandbox_unavailable",
        )
    if shutil.which("bwrap") is None:
        raise ServiceError(
            "bubblewrap (bwrap) is not installed, so code cannot run sandboxed",
            hint="apt-get install bubblewrap (`make setup` does it as root); or set E2B_API_KEY "
            "to run code in E2B instead",
            code="sandbox_unavailable",
        )


def _sandbox_ids() -> tuple[int, int] | None:
    """(uid, gid) of the unprivileged sandbox user when we are root (created on first use)."""
    if os.geteuid() != 0:
        return None
    entry = system_user(SANDBOX_USER)
    return entry.pw_uid, entry.pw_gid


def _limit_child(limits: SandboxLimits) -> Callable[[], None]:
    """rlimits for bubblewrap and all it runs; the process limit counts the sandbox user's."""

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return setup


def _namespaces(ids: tuple[int, int] | None) -> list[str]:
    """Namespaces and capabilities for bubblewrap.

    Unprivileged, bubblewrap makes a user namespace itself. As root it runs without one, so
    that it can reach an interpreter that only root may read (pyenv, uv or conda under root's
    home, mode 700) and bind it; `_become` then drops to the sandbox user before any of the
    sandbox's own code runs, and only the capabilities that this needs survive until then.
    """
    if ids is None:
        return ["--unshare-all", "--cap-drop", "ALL"]
    return [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
        "--unshare-cgroup-try", "--cap-drop", "ALL",
        "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
    ]  # fmt: skip


def _become(ids: tuple[int, int] | None) -> list[str]:
    """The command prefix that drops root for the sandbox user: no groups, no capabilities."""
    if ids is None:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ConfigError(
            "setpriv is not installed, so the sandbox cannot drop root before running code",
            hint="apt-get install util-linux (it provides setpriv)",
            code="sandbox_unavailable",
        )
    return [
        setpriv, f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups",
        "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--",
    ]  # fmt: skip


def _traversable_parents(binds: list[Path]) -> list[str]:
    """Directories above the binds, made 0755 inside the sandbox (bubblewrap copies 0700 homes).

    Only the sandbox's own empty directories are created: nothing on the host changes.
    """
    skip = {Path("/"), Path("/tmp"), *binds}  # noqa: S108 - the sandbox's own /tmp
    parents: list[Path] = []
    for path in binds:
        for parent in reversed(path.parents):
            if parent not in skip and parent not in parents:
                parents.append(parent)
    argv: list[str] = []
    for parent in parents:
        argv += ["--perms", "0755", "--dir", str(parent)]
    return argv


@dataclass
class Kernel:
    """One sandboxed kernel: its process, client, runtime dir and lock."""

    session: str
    proc: subprocess.Popen[bytes]
    client: Any
    run_dir: Path
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.proc.poll() is None


async def _wait_ready(kernel: Kernel, timeout: float) -> None:
    """Ask for kernel_info until the kernel answers on both channels; fail at once if its
    process ends.

    jupyter_client's own wait judges liveness by heartbeats, which a kernel that is still
    importing on a busy machine can miss for a second: that killed healthy kernels. A reply on
    the shell channel is not enough either: the iopub subscription may not be joined yet, and
    the outputs of the first execution would be lost (a result with nothing in it). The status
    the kernel publishes for our kernel_info proves that iopub delivers.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not kernel.alive():
            raise RuntimeError(f"the kernel exited with code {kernel.proc.returncode}")
        msg_id = kernel.client.kernel_info()
        if await _answered(kernel, msg_id, kernel.client.get_shell_msg) and await _answered(
            kernel, msg_id, kernel.client.get_iopub_msg
        ):
            return
    raise TimeoutError(f"the kernel did not answer within {timeout:.0f} s")


async def _answered(
    kernel: Kernel, msg_id: str, receive: Callable[..., Awaitable[dict[str, Any]]]
) -> bool:
    """Whether a message answering `msg_id` arrives on that channel within a second."""
    while True:
        try:
            message = await receive(timeout=1)
        except queue.Empty:
            return False
        if message["parent_header"].get("msg_id") == msg_id:
            return True


class LocalSandbox:
    """Sessions of sandboxed kernels; build once, `aclose()` at the end."""

    name = "bubblewrap"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        # The sandbox runs this very environment's interpreter (read-only): its packages are
        # what the code gets (numpy, pandas, matplotlib).
        self.python = Path(sys.executable)
        self.roots = sorted({Path(sys.prefix), Path(sys.base_prefix)})
        self._kernels: dict[str, Kernel] = {}
        self._start_lock = asyncio.Lock()

    def _argv(self, run_dir: Path, connection: Path, ids: tuple[int, int] | None) -> list[str]:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise ConfigError(
                "bubblewrap (bwrap) is not installed, so code cannot run sandboxed",
                hint="apt-get install bubblewrap (make run does it as root)",
                code="sandbox_unavailable",
            )
        # Mounts apply in order: the private tmpfs first, then the read-only binds on top, so an
        # interpreter that lives under /tmp (a checkout there) stays visible.
        argv = [bwrap, *_namespaces(ids), "--die-with-parent", "--new-session"]
        argv += [
            "--proc", "/proc", "--dev", "/dev",
            # writable by the sandbox user, who is not their owner when bubblewrap runs as root
            "--perms", "1777", "--size", str(64 * 1024**2),
            "--tmpfs", "/tmp",  # noqa: S108 - the sandbox's own /tmp
            "--perms", "0777", "--size", str(self.limits.workspace_bytes), "--tmpfs", "/workspace",
        ]  # fmt: skip
        binds = [Path(p) for p in ("/usr", "/lib", "/lib64", "/bin", "/etc/fonts")] + self.roots
        argv += _traversable_parents(binds)
        for path in binds:
            if path.exists():
                argv += ["--ro-bind", str(path), str(path)]
        argv += [
            "--bind", str(run_dir), str(run_dir),
            "--chdir", "/workspace",
            "--clearenv",
            "--setenv", "PATH", f"{self.python.parent}:/usr/bin:/bin",
            "--setenv", "HOME", "/workspace",
            "--setenv", "MPLBACKEND", "module://matplotlib_inline.backend_inline",
            "--setenv", "OPENBLAS_NUM_THREADS", "1",
            "--setenv", "OMP_NUM_THREADS", "1",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            *_become(ids),
            str(self.python), "-m", "ipykernel_launcher", "-f", str(connection),
            "--HistoryManager.enabled=False",
            "--IPKernelApp.quiet=True",
        ]  # fmt: skip
        return argv

    async def _start(self, session: str) -> Kernel:
        check_available()
        from jupyter_client.asynchronous.client import AsyncKernelClient  # noqa: PLC0415

        ids = _sandbox_ids()
        run_dir = Path(tempfile.mkdtemp(prefix="daert-kernel-"))
        connection = run_dir / "connection.json"
        connection.write_text(
            json.dumps(
                {
                    "transport": "ipc", "ip": str(run_dir / "k"), "shell_port": 1,
                    "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
                    "key": secrets.token_hex(32), "signature_scheme": "hmac-sha256",
                    "kernel_name": "python3",
                }
            )
        )  # fmt: skip
        if ids is not None:
            for path in (run_dir, connection):
                os.chown(path, *ids)
        run_dir.chmod(0o700)
        connection.chmod(0o600)
        log = (run_dir / "kernel.log").open("wb")
        proc = subprocess.Popen(
            self._argv(run_dir, connection, ids),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_child(self.limits),  # noqa: PLW1509 - rlimits
            start_new_session=True,
        )
        client = AsyncKernelClient()
        client.load_connection_file(str(connection))
        client.start_channels(hb=False)  # liveness is the process itself, not heartbeats
        kernel = Kernel(session, proc, client, run_dir)
        try:
            await _wait_ready(kernel, timeout=60)
        except (RuntimeError, TimeoutError) as err:
            tail = (run_dir / "kernel.log").read_text(errors="replace")[-1500:]
            self._kill(kernel)
            raise ServiceError(
                f"the sandboxed kernel did not start: {err}\n{tail}",
                hint="check that bubblewrap works here (`bwrap --ro-bind / / true`) and that "
                "ipykernel is installed",
                code="sandbox_start_failed",
            ) from err
        return kernel

    def _kill(self, kernel: Kernel) -> None:
        """Kill the code inside first, so that each bubblewrap reaps its child and exits.

        Killing the outer bubblewrap first would orphan the inner one as a zombie for the
        host's init to reap, and zombies count against the sandbox user's process limit.
        """
        kernel.client.stop_channels()
        if kernel.alive():
            try:
                tree = psutil.Process(kernel.proc.pid).children(recursive=True)
            except psutil.Error:
                tree = []
            for child in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    if child.name() != "bwrap":
                        child.kill()
            try:
                kernel.proc.wait(5)
            except subprocess.TimeoutExpired:
                for child in tree:
                    with contextlib.suppress(psutil.Error):
                        child.kill()
                os.killpg(kernel.proc.pid, signal.SIGKILL)
                kernel.proc.wait(5)
        shutil.rmtree(kernel.run_dir, ignore_errors=True)

    async def _kernel(self, session: str) -> Kernel:
        async with self._start_lock:
            now = time.monotonic()
            for name, k in list(self._kernels.items()):
                if not k.alive() or (
                    now - k.last_used > self.limits.idle_seconds and not k.lock.locked()
                ):
                    self._kill(self._kernels.pop(name))
            kernel = self._kernels.get(session)
            if kernel is None:
                if len(self._kernels) >= self.limits.max_sessions:
                    idle = sorted(
                        (k for k in self._kernels.values() if not k.lock.locked()),
                        key=lambda k: k.last_used,
                    )
                    if not idle:
                        raise ServiceError(
                            f"all {self.limits.max_sessions} sandbox sessions are busy",
                            hint="retry shortly, or raise the session cap",
                            code="sandbox_busy",
                        )
                    self._kill(self._kernels.pop(idle[0].session))
                kernel = await self._start(session)
                self._kernels[session] = kernel
            kernel.last_used = now
            return kernel

    async def execute(
        self, code: str, *, session: str | None = None, timeout: float | None = None
    ) -> ExecutionResult:
        seconds = checked_timeout(self.limits, timeout)  # before a session is taken
        fresh = session is None
        name = session or f"oneshot-{uuid.uuid4().hex[:8]}"
        kernel = await self._kernel(name)
        try:
            async with kernel.lock:
                result = await self._run(kernel, code, seconds)
        finally:
            kernel.last_used = time.monotonic()
            if fresh or not kernel.alive():
                await self.close(name)
        result.session = None if fresh else name
        return result

    async def _run(self, kernel: Kernel, code: str, timeout: float) -> ExecutionResult:
        result = ExecutionResult()
        kept = 0
        msg_id = kernel.client.execute(code, allow_stdin=False, store_history=True)
        deadline = time.monotonic() + timeout
        interrupted_at: float | None = None
        while True:
            if not kernel.alive():
                result.error = "SandboxError: the sandbox process ended (it was killed or crashed)"
                return result
            now = time.monotonic()
            if now > deadline and interrupted_at is None:
                result.timed_out = True
                interrupted_at = now
                request = kernel.client.session.msg("interrupt_request", {})
                kernel.client.control_channel.send(request)
            if interrupted_at is not None and now - interrupted_at > 3:
                self._kill(kernel)  # did not stop on the interrupt: the whole sandbox goes
                result.error = f"TimeoutError: execution ran past {timeout:g}s and was killed"
                return result
            try:
                message = await kernel.client.get_iopub_msg(timeout=0.25)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                if result.timed_out:
                    result.error = (
                        f"TimeoutError: execution ran past {timeout:g}s and was interrupted"
                    )
                return result
            kept = self._collect(result, kind, content, kept)

    def _collect(
        self, result: ExecutionResult, kind: str, content: dict[str, Any], kept: int
    ) -> int:
        """Fold one iopub message into the result; returns the output bytes kept so far."""
        if kind == "stream":
            text = content.get("text", "")
            room = self.limits.max_output_bytes - kept
            if len(text) > room:
                text, result.truncated = text[: max(room, 0)], True
            if content.get("name") == "stderr":
                result.stderr += text
            else:
                result.stdout += text
            return kept + len(text)
        if kind == "error":
            result.error = f"{content.get('ename')}: {content.get('evalue')}"
            result.traceback = [_ANSI.sub("", line) for line in content.get("traceback", [])]
            return kept
        if kind not in {"execute_result", "display_data"}:
            return kept
        data = content.get("data", {})
        if kind == "execute_result" and "text/plain" in data:
            result.result = str(data["text/plain"])[: self.limits.max_output_bytes]
        if "image/png" in data:
            result.parts.append(OutputPart("image/png", str(data["image/png"])))
        elif "text/html" in data:
            result.parts.append(OutputPart("text/html", str(data["text/html"])))
        elif kind == "display_data" and "text/plain" in data:
            result.stdout += str(data["text/plain"]) + "\n"
        return kept

    @staticmethod
    def checked_path(path: str) -> str:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise InputError(
                f"{path!r} is not a path inside the workspace",
                hint="use a relative path such as data/input.csv",
                code="sandbox_path_invalid",
            )
        return str(pure)

    async def upload(self, session: str, path: str, data: bytes) -> None:
        if len(data) > MAX_TRANSFER:
            raise InputError(
                "file too large for the sandbox",
                hint=f"files up to {MAX_TRANSFER // 1024**2} MiB go in and out",
                code="sandbox_file_too_large",
            )
        target = self.checked_path(path)
        encoded = base64.b64encode(data).decode()
        code = (
            "import base64, pathlib\n"
            f"_p = pathlib.Path({target!r}); _p.parent.mkdir(parents=True, exist_ok=True)\n"
            f"_p.write_bytes(base64.b64decode({encoded!r})); del _p"
        )
        done = await self.execute(code, session=session)
        if not done.ok:
            raise InputError(
                f"upload failed: {done.error}",
                hint="check the path; the sandbox workspace is a small tmpfs",
                code="sandbox_upload_failed",
            )

    async def download(self, session: str, path: str) -> bytes:
        target = self.checked_path(path)
        code = (
            "import base64, pathlib\n"
            f"_p = pathlib.Path({target!r})\n"
            f"assert _p.stat().st_size <= {MAX_TRANSFER}, 'file too large'\n"
            "print(base64.b64encode(_p.read_bytes()).decode(), end='')"
        )
        kernel = await self._kernel(session)
        async with kernel.lock:
            saved = self.limits
            self.limits = SandboxLimits(**{**saved.__dict__, "max_output_bytes": MAX_TRANSFER * 2})
            try:
                done = await self._run(kernel, code, saved.timeout)
            finally:
                self.limits = saved
        if not done.ok:
            raise InputError(
                f"cannot download {path!r}: {done.error}",
                hint="list the workspace first, e.g. run `import os; os.listdir()`",
                code="sandbox_file_missing",
            )
        return base64.b64decode(done.stdout)

    async def close(self, session: str) -> None:
        kernel = self._kernels.pop(session, None)
        if kernel is not None:
            self._kill(kernel)

    async def aclose(self) -> None:
        for name in list(self._kernels):
            await self.close(name)
