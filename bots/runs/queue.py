"""The run queue on procrastinate: enqueue a run as a job, work jobs, and sweep stalled ones.

Jobs of one thread share a procrastinate `lock` (the thread id), so at most one of them runs at
a time across every worker process, in the order they were created. A worker that dies
stops heartbeating; any other worker's sweeper then retries its run once, or fails it with a
reason, so no run stays "running" forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bots.runs.executor import RunExecutor, Shutdown
from bots.runs.records import MAX_ATTEMPTS, Run
from bots.runs.store import RunStore
from bots.runs.streams import RunStreams
from core.migrations import migrate

if TYPE_CHECKING:
    import procrastinate
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("daert.runs")
TASK = "daert.run"
QUEUE = "runs"


async def setup_schema(pool: AsyncConnectionPool[Any]) -> None:
    """procrastinate's tables, once (its schema as one versioned migration of ours)."""
    from procrastinate.schema import SchemaManager  # noqa: PLC0415

    async with pool.connection() as conn:
        await migrate(conn, "procrastinate", [SchemaManager.get_schema()])


def build_app(conninfo: str, *, pool_size: int = 4) -> procrastinate.App:
    """A procrastinate app on its own small pool (the worker LISTENs on one connection)."""
    import procrastinate  # noqa: PLC0415

    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=pool_size)
    return procrastinate.App(connector=connector)


class RunQueue:
    """Enqueue runs (any process) and work them (worker processes)."""

    def __init__(self, app: procrastinate.App, store: RunStore) -> None:
        self.app = app
        self.store = store

    async def enqueue(self, run: Run) -> int:
        # The job carries the run id (its only argument); nothing else links them.
        job_id: int = await self.app.configure_task(
            TASK, lock=run.thread_id, queue=QUEUE
        ).defer_async(run_id=run.run_id, temporary=run.temporary)
        return job_id

    async def abort(self, run_id: str) -> None:
        """Stop a run's job: dropped if it has not started, its task cancelled if it runs."""
        job_id = await self.store.job_of(run_id)
        if job_id is None:
            return
        with contextlib.suppress(Exception):  # already finished: nothing to stop
            await self.app.job_manager.cancel_job_by_id_async(job_id, abort=True)

    def register(self, executor: RunExecutor) -> None:
        """Make this process able to work runs (a worker, or `daert serve`'s own)."""
        from procrastinate import JobContext, RetryStrategy  # noqa: PLC0415

        @self.app.task(
            name=TASK,
            queue=QUEUE,
            pass_context=True,
            retry=RetryStrategy(max_attempts=10, wait=1, retry_exceptions={Shutdown}),
        )
        async def run_task(context: JobContext, run_id: str, temporary: bool = False) -> None:
            from procrastinate.job_context import AbortReason  # noqa: PLC0415

            await executor.execute(
                run_id,
                temporary=temporary,
                shutting_down=lambda: context.abort_reason() == AbortReason.SHUTDOWN,
            )

    async def work(self, *, concurrency: int = 4, name: str | None = None) -> None:
        """Work runs until cancelled."""
        await self.app.run_worker_async(
            queues=[QUEUE],
            concurrency=concurrency,
            name=name or "daert",
            install_signal_handlers=False,
            update_heartbeat_interval=5.0,
            stalled_worker_timeout=20.0,
            listen_notify=True,
            fetch_job_polling_interval=2.0,
            shutdown_graceful_timeout=5.0,
            delete_jobs="successful",
        )


class LocalRunner:
    """Runs that can start at once start here, in the process that created them, without a
    trip through the queue (procrastinate's fetch costs ~10 ms a run on a small machine).
    Such a run is as durable as a queued one: it is in PostgreSQL before it starts, and if
    this process dies the sweeper of any other process retries it through the queue."""

    def __init__(self, executor: RunExecutor, queue: RunQueue, *, concurrency: int) -> None:
        self.executor = executor
        self.queue = queue
        self.concurrency = concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def has_room(self) -> bool:
        return not self._closing and len(self._tasks) < self.concurrency

    def start(self, run: Run) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: Run) -> None:
        try:
            await self.executor.execute(
                run.run_id, temporary=run.temporary, shutting_down=lambda: self._closing
            )
        except Shutdown:  # handed back as pending: the queue takes it from here
            await self.queue.enqueue(run)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run %s failed outside the graph", run.run_id)

    async def aclose(self, grace: float = 5.0) -> None:
        """Let running runs finish for `grace` seconds, then hand the rest back."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        self._closing = True
        for task in set(self._tasks):
            task.cancel()
        for task in set(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class Sweeper:
    """Finds runs that nobody works any more and retries them once, or fails them.

    A run being worked reports progress every few seconds (`RunExecutor`); a running run
    silent for `stalled_after` seconds lost its process. Jobs of dead procrastinate workers
    are closed too, so the queue does not keep them as "doing"."""

    def __init__(
        self,
        queue: RunQueue,
        store: RunStore,
        streams: RunStreams,
        *,
        stalled_after: float = 20.0,
        orphan_after: float = 30.0,
    ) -> None:
        self.queue = queue
        self.store = store
        self.streams = streams
        self.stalled_after = stalled_after
        self.orphan_after = orphan_after

    async def sweep(self) -> list[str]:
        """One pass; what it did, one line per run."""
        from procrastinate.jobs import Status  # noqa: PLC0415

        done: list[str] = []
        for run in await self.store.stale(self.stalled_after):
            if run.attempt < MAX_ATTEMPTS:
                if await self.store.requeue(run.run_id, None, count_attempt=True):
                    await self.queue.enqueue(run)
                    done.append(f"{run.run_id}: its worker went silent, retried")
                continue
            failed = await self.store.finish(
                run.run_id, "error", elapsed=run.elapsed,
                error={"code": "worker_lost",
                       "message": f"the worker running it stopped, {run.attempt} times",
                       "hint": "see the workers' logs; ask again to start a new run"},
            )  # fmt: skip
            if failed:
                events = self.streams.writer(run.run_id)
                events.add("error", {"error": "worker_lost",
                                     "message": "the worker running it stopped"})  # fmt: skip
                await events.end("error")
                done.append(f"{run.run_id}: its worker went silent again, failed")
        manager = self.queue.app.job_manager
        for job in await manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=self.stalled_after
        ):
            with contextlib.suppress(Exception):  # another sweeper closed it first
                await manager.finish_job(job, status=Status.FAILED, delete_job=True)
        for run in await self.store.orphans(self.orphan_after):
            await self.queue.enqueue(run)
            done.append(f"{run.run_id}: had no job, enqueued")
        return done

    async def loop(self, every: float = 10.0) -> None:
        while True:
            try:
                for line in await self.sweep():
                    log.warning("sweeper: %s", line)
            except Exception:
                log.exception("sweeper pass failed")
            await asyncio.sleep(every)
