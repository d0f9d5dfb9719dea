"""Execute one run: claim it, stream its graph into the run's Redis Stream, record how it ended.

The run's time budget counts only time spent running: the time used is saved every few
seconds, so a run resumed after its worker died starts from what it had used, not from the
wall clock. A cancelled or interrupted run keeps the events it had already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bots.runs.records import Run, RunStatus
from bots.runs.served import ServedGraph, State, Turn, thread_config, to_json
from bots.runs.store import Busy, RunStore
from bots.runs.streams import RunStreams, StreamWriter
from core.errors import DaertError

log = logging.getLogger("daert.runs")

Graphs = Callable[[str], Awaitable[ServedGraph]]
ThreadHook = Callable[[str, list[str]], Awaitable[None]]


def kept_events(modes: tuple[str, ...]) -> frozenset[str]:
    """What a run's stream keeps: the modes it was asked for, and `custom` always (daert's
    own run events, which every surface renders, travel there)."""
    return frozenset({"messages" if m in ("messages", "messages-tuple") else m for m in modes}
                     | {"custom"})  # fmt: skip


class Shutdown(Exception):
    """The worker is stopping: the run goes back to pending for another worker."""


class RunExecutor:
    def __init__(
        self,
        store: RunStore,
        streams: RunStreams,
        graphs: Graphs,
        *,
        default_timeout: float = 600.0,
        rollback: ThreadHook | None = None,
        drop_thread: Callable[[str], Awaitable[None]] | None = None,
        progress_every: float = 5.0,
    ) -> None:
        self.store = store
        self.streams = streams
        self.graphs = graphs
        self.default_timeout = default_timeout
        self.rollback = rollback
        self.drop_thread = drop_thread
        self.progress_every = progress_every

    async def execute(
        self, run_id: str, *, shutting_down: Callable[[], bool], temporary: bool = False
    ) -> None:
        run = await self._claim(run_id, temporary)
        if run is None:  # cancelled before it started, or taken by another attempt
            await self._end_if_finished(run_id)
            return
        started = time.monotonic()

        def used() -> float:
            return run.elapsed + (time.monotonic() - started)

        first = run.attempt == 1 or not await self.streams.exists(run.run_id)
        events = self.streams.writer(run.run_id, first=first)
        # a retry says so: readers see the run start again
        events.add("metadata", {"run_id": run.run_id, "attempt": run.attempt})
        ticker = asyncio.create_task(self._tick(run.run_id, used))
        status: RunStatus = "success"
        error: dict[str, Any] | None = None
        output: Any = None
        try:
            output = await self._run(run, events)
        except TimeoutError:
            status = "timeout"
            budget = run.timeout or self.default_timeout
            error = {"code": "run_timeout", "message": f"the run used its {budget:g} s budget",
                     "hint": "raise the run's timeout, or ask something narrower"}  # fmt: skip
        except asyncio.CancelledError:
            ticker.cancel()
            if shutting_down():
                await self.store.requeue(run.run_id, used(), count_attempt=False)
                await events.flush()
                raise Shutdown(run.run_id) from None
            # cancelled or interrupted by a request: that request set the status already
            current = await self.store.get(run.run_id)
            await events.end(current.status)
            await self._cleanup(run)
            raise
        except DaertError as err:  # `status`: what HTTP status a surface answers it with
            status = "error"
            error = {"code": err.code, "message": err.message, "hint": err.hint,
                     "status": err.http_status}  # fmt: skip
        except Exception as err:
            log.exception("run %s failed", run.run_id)
            status = "error"
            error = {"code": "run_failed", "message": f"{type(err).__name__}: {err}"[:2000],
                     "hint": "see the server log for the traceback"}  # fmt: skip
        finally:
            ticker.cancel()
        if error is not None:
            events.add("error", {"error": error["code"], "message": error["message"]})
        if await self.store.finish(run.run_id, status, elapsed=used(), error=error, output=output):
            # the outcome rides on `end`: a waiting client needs no database read
            await events.end(status, output=output, error=error)
        else:  # cancelled meanwhile: that status stands
            await events.end((await self.store.get(run.run_id)).status)

    async def _claim(self, run_id: str, temporary: bool) -> Run | None:
        """Claim the run, waiting while another run of its thread runs (it started outside
        the queue's per-thread order, or the queue let this one through first)."""
        pause = 0.02
        while True:
            claimed = await self.store.claim(run_id, temporary=temporary)
            if not isinstance(claimed, Busy):
                return claimed
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _run(self, run: Run, events: StreamWriter) -> Any:
        kwargs = run.kwargs
        if kwargs.get("rollback") and self.rollback is not None:
            await self.rollback(run.thread_id, list(kwargs["rollback"]))
        served = await self.graphs(kwargs.get("graph_id") or run.assistant_id)
        modes = tuple(kwargs["stream_modes"]) if "stream_modes" in kwargs else ("values",)
        turn = Turn(
            run_id=run.run_id,
            thread_id=run.thread_id,
            user_id=run.user_id,
            input=kwargs.get("input"),
            command=kwargs.get("command"),
            config=kwargs.get("config") or {},
            context=kwargs.get("context") or {},
            modes=modes,
            temporary=run.temporary,
            durability=kwargs.get("durability"),
        )
        kept = kept_events(modes)
        output: Any = None
        budget = (run.timeout or self.default_timeout) - run.elapsed
        async with asyncio.timeout(max(budget, 0.001)):
            async for event, data in served.stream(turn):
                if isinstance(data, State):
                    output = data
                    if event in kept:
                        events.add(event, to_json(data.value))
                elif event in kept:
                    events.add(event, data)
            if output is None:
                config = thread_config(run.thread_id, run.user_id)
                output = State((await served.graph.aget_state(config)).values)
        if run.temporary and served.leaves_state and self.drop_thread is not None:
            await self.drop_thread(run.thread_id)
        return to_json(output.value)

    async def _tick(self, run_id: str, used: Callable[[], float]) -> None:
        while True:
            await asyncio.sleep(self.progress_every)
            with contextlib.suppress(Exception):  # a missed tick costs at most one interval
                await self.store.progress(run_id, used())

    async def _end_if_finished(self, run_id: str) -> None:
        with contextlib.suppress(DaertError):
            run = await self.store.get(run_id)
            if run.done and not await self.streams.ended(run_id):
                await self.streams.end(run_id, run.status)

    async def _cleanup(self, run: Run) -> None:
        """A stateless run cut short: drop whatever its thread got (cheap when nothing)."""
        if run.temporary and self.drop_thread is not None:
            await self.drop_thread(run.thread_id)
