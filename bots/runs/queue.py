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
        job_id = await self.app.configure_task(TASK, lock=run.thread_id, queue=QUEUE).defer_async(
            run_id=run.run_id
        )
        await self.store.set_job(run.run_id, job_id)
        return job_id

    async def abort(self, job_id: int | None) -> None:
        """Stop a job: dropped if it has not started, its task cancelled if it runs."""
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
        async def run_task(context: JobContext, run_id: str) -> None:
            from procrastinate.job_context import AbortReason  # noqa: PLC0415

            await executor.execute(
                run_id, shutting_down=lambda: context.abort_reason() == AbortReason.SHUTDOWN
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


class Sweeper:
    """Finds runs that nobody works any more and retries them once, or fails them."""

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

        manager = self.queue.app.job_manager
        done: list[str] = []
        for job in await manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=self.stalled_after
        ):
            if job.id is None:  # pragma: no cover - stored jobs have ids
                continue
            run = await self.store.by_job(job.id)
            try:
                if run is not None and run.status == "running" and run.attempt < MAX_ATTEMPTS:
                    await self.store.requeue(run.run_id, None, count_attempt=True)
                    await manager.retry_job(job)
                    done.append(f"{run.run_id}: worker lost, retried")
                    continue
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except Exception as err:  # noqa: BLE001 - another sweeper got there first
                log.debug("sweep of job %s: %s", job.id, err)
                continue
            if run is not None:
                if run.status == "running":
                    await self.store.finish(
                        run.run_id, "error", elapsed=run.elapsed,
                        error={"code": "worker_lost",
                               "message": f"the worker running it stopped {run.attempt} times",
                               "hint": "see the workers' logs; ask again to start a new run"},
                    )  # fmt: skip
                    await self.streams.append(
                        run.run_id, "error",
                        {"error": "worker_lost", "message": "the worker running it stopped"},
                    )  # fmt: skip
                    done.append(f"{run.run_id}: worker lost again, failed")
                final = await self.store.get(run.run_id)
                if not await self.streams.ended(run.run_id):
                    await self.streams.end(run.run_id, final.status)
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
