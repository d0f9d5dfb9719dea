"""CrewAI on our gateway: loading crewai safely, and a CrewAI LLM that calls `ModelGateway`.

CrewAI is synchronous and runs in a worker thread; our gateway, stores and searches are async
and live on the caller's event loop. `LoopBridge` runs their coroutines on that loop from
the crew's thread, with one deadline for the whole run and a cancel switch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, override

from agents.crew.errors import CrewCancelled, CrewTimeout
from core.errors import ConfigError, DaertError

if TYPE_CHECKING:
    from types import ModuleType

    from crewai import BaseLLM

    from agents.gateway import ModelGateway

T = TypeVar("T")

# crewai reads these at import and at kickoff. OTEL_SDK_DISABLED is deliberately not set:
# crewai's own two switches are enough, and that one would turn off OpenTelemetry for the
# whole process, daert's tracing included.
_QUIET = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
}
_load_lock = threading.Lock()


def load_crewai(storage_dir: Path) -> ModuleType:
    """Import crewai (seconds; once per process) with telemetry off and its files confined.

    crewai writes a SQLite file of task outputs and a consent file under
    `$CREWAI_STORAGE_DIR`, and an encryption key and a settings folder under the home
    directory at import; all four are kept under `storage_dir` (the first call's wins).
    """
    with _load_lock:
        for name, value in _QUIET.items():
            os.environ.setdefault(name, value)
        storage = Path(os.environ.setdefault("CREWAI_STORAGE_DIR", str(storage_dir.resolve())))
        try:
            _confine(storage)
            import crewai  # noqa: PLC0415 - 6 s import, only when a crew runs
        except ImportError as err:
            raise ConfigError(
                f"the research crew needs the crewai package, which is not installed ({err})",
                hint="pip install 'daert[crew]'",
                code="crew_not_installed",
            ) from err
        return crewai


def _confine(storage: Path) -> None:
    storage.mkdir(parents=True, exist_ok=True)
    consent = storage / ".crewai_user.json"
    if not consent.exists():  # declined: never ask on a terminal, never upload traces
        consent.write_text(json.dumps({"first_execution_done": True, "trace_consent": False}))
    from crewai_core import settings, token_manager  # noqa: PLC0415 - light, crewai's own

    # Both paths are hard-wired to the home directory; a crewai that moved them writes there
    # again (tests/integration/test_crew.py notices).
    if hasattr(settings, "DEFAULT_CONFIG_PATH"):
        settings.DEFAULT_CONFIG_PATH = storage / "settings.json"

    def credentials_dir() -> Path:
        path = storage / "credentials"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    manager = getattr(token_manager, "TokenManager", None)
    if manager is not None and hasattr(manager, "_get_secure_storage_path"):
        manager._get_secure_storage_path = staticmethod(credentials_dir)


class LoopBridge:
    """Runs coroutines on `loop` from other threads, under one deadline, until cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.failure: DaertError | None = None  # the first daert error seen in the crew
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def __deepcopy__(self, memo: dict[int, Any]) -> LoopBridge:
        return self  # a handle on the run, shared by copies of agents and LLMs

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The result of the coroutine `make()` builds, run on the loop; call from a worker."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("LoopBridge.run was called on its own loop and would deadlock")
        if self._cancelled.is_set():
            raise CrewCancelled("the crew run was stopped", hint="start a new run")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.cancel()
            raise self.timeout_error()
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        with self._lock:
            self._pending.add(future)
        try:
            return future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            self.cancel()
            raise self.timeout_error() from None
        except concurrent.futures.CancelledError:
            raise CrewCancelled("the crew run was stopped", hint="start a new run") from None
        except DaertError as err:
            self.failure = self.failure or err
            raise
        finally:
            with self._lock:
                self._pending.discard(future)

    def cancel(self) -> None:
        """Stop the run: calls in flight are cancelled, later ones raise CrewCancelled."""
        self._cancelled.set()
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    def timeout_error(self) -> CrewTimeout:
        return CrewTimeout(
            f"the crew did not finish within {self.timeout:g} s",
            hint="raise the crew's timeout, lower max_iterations, or ask a narrower question",
        )


def _plain(messages: str | list[Any]) -> list[dict[str, Any]]:
    """CrewAI's messages as plain chat messages (it adds keys such as `cache_breakpoint`)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]


def gateway_llm(
    bridge: LoopBridge,
    gateway: ModelGateway,
    alias: str,
    *,
    context_window: int = 8192,
    thread_id: str | None = None,
    user_id: str | None = None,
) -> BaseLLM:
    """A CrewAI LLM whose every call is `gateway.complete(alias, ...)` on the bridge's loop."""
    return _gateway_llm_class()(
        model=alias,
        provider="daert",
        bridge=bridge,
        gateway=gateway,
        context_window=context_window,
        thread_id=thread_id,
        user_id=user_id,
    )


@functools.cache
def _gateway_llm_class() -> type[BaseLLM]:
    from crewai import BaseLLM  # noqa: PLC0415 - crewai is imported by load_crewai first
    from pydantic import Field  # noqa: PLC0415

    class GatewayLLM(BaseLLM):
        """Text completions through the daert gateway; tools are used in ReAct text form."""

        llm_type: str = "daert-gateway"
        bridge: LoopBridge = Field(exclude=True)
        gateway: Any = Field(exclude=True)
        context_window: int = 8192
        thread_id: str | None = None
        user_id: str | None = None

        @override
        def call(
            self,
            messages: str | list[Any],
            tools: Any = None,
            callbacks: Any = None,
            available_functions: Any = None,
            from_task: Any = None,
            from_agent: Any = None,
            response_model: Any = None,
        ) -> str:
            stop = list(self.stop_sequences)
            params: dict[str, Any] = {"stop": stop, "drop_params": True} if stop else {}
            done = self.bridge.run(
                lambda: self.gateway.complete(
                    self.model,
                    _plain(messages),
                    thread_id=self.thread_id,
                    user_id=self.user_id,
                    **params,
                )
            )
            # Models that ignore `stop` would go on to invent the tool's observation.
            return self._apply_stop_words(done.text)

        def supports_function_calling(self) -> bool:  # crewai probes for it; ReAct text it is
            return False

        @override
        def get_context_window_size(self) -> int:
            return int(self.context_window * 0.85)  # what crewai's own LLM leaves for output

        @override
        def get_input_tokens_count(self, messages: Any, tools: Any = None,
                                   response_model: Any = None) -> int:  # fmt: skip
            if isinstance(messages, str):
                return (len(messages) + 3) // 4
            return sum((len(str(m.get("content") or "")) + 3) // 4 for m in messages)

    return GatewayLLM
