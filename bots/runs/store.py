"""Runs in PostgreSQL: created under a lock on their thread, claimed by one worker, finished once.

The thread's row is locked (by an `UPDATE` of its metadata) while a run is created, so two processes
that start runs on one thread at the same moment are serialized by the database, and the
double-texting strategy sees every active run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bots.runs.records import (
    ACTIVE,
    MAX_ATTEMPTS,
    Run,
    RunNotFound,
    RunRequest,
    RunStatus,
    ThreadBusy,
    ThreadNotFound,
)
from core.migrations import migrate

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

RUN_MIGRATIONS = [
    """CREATE TABLE daert_runs (
        run_id text PRIMARY KEY,
        thread_id text NOT NULL,
        assistant_id text NOT NULL,
        user_id text NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        multitask_strategy text NOT NULL DEFAULT 'reject',
        kwargs jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        attempt integer NOT NULL DEFAULT 0,
        elapsed double precision NOT NULL DEFAULT 0,
        timeout double precision,
        error jsonb,
        output jsonb,
        temporary boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
    )""",
    "CREATE INDEX daert_runs_thread ON daert_runs (thread_id, created_at DESC)",
    "CREATE INDEX daert_runs_active ON daert_runs (thread_id, created_at) "
    "WHERE status IN ('pending', 'running')",
    "CREATE INDEX daert_runs_user ON daert_runs (user_id, created_at DESC)",
]
COLUMNS = (
    "run_id, thread_id, assistant_id, user_id, status, multitask_strategy, kwargs, metadata, "
    "attempt, elapsed, timeout, error, output, temporary, created_at, updated_at, "
    "started_at, finished_at"
)


def _run(row: dict[str, Any]) -> Run:
    return Run(**row)


class Busy:
    """Another run of the thread is running."""


BUSY = Busy()


@dataclass(frozen=True)
class Displaced:
    """An active run that a new run's strategy interrupted (or rolled back)."""

    run_id: str
    was: RunStatus


class RunStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await migrate(conn, "runs", RUN_MIGRATIONS)

    async def create(
        self,
        run_id: str,
        thread_id: str,
        user_id: str,
        request: RunRequest,
        *,
        create_thread: bool = False,
        temporary: bool = False,
    ) -> tuple[Run, list[Displaced], bool]:
        """Insert a pending run, applying its double-texting strategy to the thread's active
        runs; the interrupted ones come back so the caller can stop them, and whether any
        run was active on the thread (then the new one must queue behind it)."""
        kwargs = request.kwargs()
        if temporary:  # a thread of its own, new: nothing to lock, nothing active on it
            run = await self._insert(run_id, thread_id, user_id, request, kwargs, temporary)
            return run, [], False
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            if create_thread:
                await cur.execute(
                    "INSERT INTO daert_threads (thread_id, user_id, title, turns) "
                    "VALUES (%s, %s, '', 0) ON CONFLICT (thread_id) DO NOTHING",
                    (thread_id, user_id),
                )
            # Locks the thread's row until commit: run creation on one thread is serialized.
            owner = await (
                await cur.execute(
                    "UPDATE daert_threads SET metadata = metadata || %s, updated_at = now() "
                    "WHERE thread_id = %s AND user_id = %s RETURNING user_id",
                    (
                        Jsonb({"graph_id": request.graph_id, "assistant_id": request.assistant_id}),
                        thread_id,
                        user_id,
                    ),
                )
            ).fetchone()
            if owner is None:  # no such thread, or another user's: the same answer
                raise ThreadNotFound(thread_id)
            active = await (
                await cur.execute(
                    "SELECT run_id, status FROM daert_runs WHERE thread_id = %s "
                    "AND status IN ('pending', 'running') ORDER BY created_at",
                    (thread_id,),
                )
            ).fetchall()
            displaced: list[Displaced] = []
            strategy = request.multitask_strategy
            if active and strategy == "reject":
                raise ThreadBusy(thread_id, active[0]["run_id"])
            if active and strategy in ("interrupt", "rollback"):
                displaced = [Displaced(r["run_id"], r["status"]) for r in active]
                await cur.execute(
                    "UPDATE daert_runs SET status = 'interrupted', finished_at = now(), "
                    "updated_at = now(), error = %s WHERE run_id = ANY(%s)",
                    (
                        Jsonb({"code": strategy + "ed", "message": f"{strategy}ed by {run_id}"}),
                        [d.run_id for d in displaced],
                    ),
                )
                if strategy == "rollback":
                    kwargs["rollback"] = [d.run_id for d in displaced]
            run = await self._insert(
                run_id, thread_id, user_id, request, kwargs, temporary, cursor=cur
            )
        return run, displaced, bool(active)

    async def _insert(  # noqa: PLR0917 - the run's columns, in order
        self,
        run_id: str,
        thread_id: str,
        user_id: str,
        request: RunRequest,
        kwargs: dict[str, Any],
        temporary: bool,
        *,
        cursor: Any = None,
    ) -> Run:
        sql = (
            "INSERT INTO daert_runs (run_id, thread_id, assistant_id, user_id, "
            "multitask_strategy, kwargs, metadata, timeout, temporary) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}"
        )
        params = (
            run_id, thread_id, request.assistant_id, user_id, request.multitask_strategy,
            Jsonb(kwargs), Jsonb(request.metadata), request.timeout, temporary,
        )  # fmt: skip
        if cursor is not None:
            row = await (await cursor.execute(sql, params)).fetchone()
        else:
            async with self.pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                row = await (await cur.execute(sql, params)).fetchone()
        if row is None:  # pragma: no cover - RETURNING always returns the row
            raise RuntimeError("the database returned no row")
        return _run(row)

    async def get(self, run_id: str, user_id: str | None = None) -> Run:
        """The run; `RunNotFound` also when it belongs to another user."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_runs WHERE run_id = %s "
                "AND (%s::text IS NULL OR user_id = %s)",
                (run_id, user_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return _run(row)

    async def search(
        self,
        *,
        user_id: str | None = None,
        thread_id: str | None = None,
        status: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Run]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_runs WHERE "
                "(%(u)s::text IS NULL OR user_id = %(u)s) AND "
                "(%(t)s::text IS NULL OR thread_id = %(t)s) AND "
                "(%(s)s::text IS NULL OR status = %(s)s) "
                "ORDER BY created_at DESC LIMIT %(n)s OFFSET %(o)s",
                {"u": user_id, "t": thread_id, "s": status, "n": limit, "o": offset},
            )
            rows = await cur.fetchall()
        return [_run(r) for r in rows]

    async def active(self, thread_id: str) -> list[Run]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_runs WHERE thread_id = %s "
                "AND status IN ('pending', 'running') ORDER BY created_at",
                (thread_id,),
            )
            rows = await cur.fetchall()
        return [_run(r) for r in rows]

    async def claim(self, run_id: str, *, temporary: bool = False) -> Run | Busy | None:
        """Mark a pending run running for one more attempt. None when it is not pending
        (cancelled, interrupted, taken) or has used its attempts; `BUSY` while another run of
        its thread runs or an older one waits (the caller waits: one active run per thread,
        in the order they were created, whoever claims)."""
        claim = (
            "UPDATE daert_runs r SET status = 'running', attempt = attempt + 1, "
            "started_at = now(), updated_at = now() "
            "WHERE run_id = %s AND status = 'pending' AND attempt < %s {busy} "
            f"RETURNING {COLUMNS}"
        )
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            if temporary:  # its thread is its own: nothing else can run on it
                await cur.execute(claim.format(busy=""), (run_id, MAX_ATTEMPTS))
                row = await cur.fetchone()
                return _run(row) if row else None
            async with conn.transaction():
                # serializes claims of one thread's runs, then reads what runs with a fresh view
                await cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('daert_run:' || thread_id)) "
                    "FROM daert_runs WHERE run_id = %s",
                    (run_id,),
                )
                await cur.execute(
                    claim.format(
                        # nothing else runs on the thread, and no older run waits: FIFO
                        busy="AND NOT EXISTS (SELECT 1 FROM daert_runs o WHERE "
                        "o.thread_id = r.thread_id AND o.run_id <> r.run_id AND "
                        "(o.status = 'running' OR (o.status = 'pending' AND "
                        "(o.created_at, o.run_id) < (r.created_at, r.run_id))))"
                    ),
                    (run_id, MAX_ATTEMPTS),
                )
                row = await cur.fetchone()
                if row is not None:
                    return _run(row)
                await cur.execute(
                    "SELECT status FROM daert_runs WHERE run_id = %s AND status = 'pending' "
                    "AND attempt < %s",
                    (run_id, MAX_ATTEMPTS),
                )
                return BUSY if await cur.fetchone() else None

    async def progress(self, run_id: str, elapsed: float) -> None:
        """The time this run has used so far (what a resumed run starts from)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE daert_runs SET elapsed = %s, updated_at = now() "
                "WHERE run_id = %s AND status = 'running'",
                (elapsed, run_id),
            )

    async def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        elapsed: float,
        error: dict[str, Any] | None = None,
        output: Any = None,
    ) -> bool:
        """Record the end of a running run; False when someone ended it first (a cancel)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE daert_runs SET status = %s, elapsed = %s, error = %s, output = %s, "
                "finished_at = now(), updated_at = now() "
                "WHERE run_id = %s AND status = 'running' RETURNING run_id",
                (
                    status, elapsed, Jsonb(error) if error else None,
                    Jsonb(output) if output is not None else None, run_id,
                ),
            )  # fmt: skip
            return await cur.fetchone() is not None

    async def requeue(self, run_id: str, elapsed: float | None, *, count_attempt: bool) -> bool:
        """A running run whose worker stopped goes back to pending, keeping its time used
        (`None`: as last saved). A worker that stopped on purpose does not use up an attempt;
        one that was lost does."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE daert_runs SET status = 'pending', elapsed = coalesce(%s, elapsed), "
                "attempt = attempt - %s, updated_at = now() "
                "WHERE run_id = %s AND status = 'running' RETURNING run_id",
                (elapsed, 0 if count_attempt else 1, run_id),
            )
            return await cur.fetchone() is not None

    async def cancel(self, run_id: str, user_id: str | None, status: RunStatus) -> Displaced:
        """End an active run as `status` (cancelled or interrupted); the old state comes back.
        A run already finished is left as it is."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT run_id, status FROM daert_runs WHERE run_id = %s "
                "AND (%s::text IS NULL OR user_id = %s) FOR UPDATE",
                (run_id, user_id, user_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise RunNotFound(run_id)
            if row["status"] in ACTIVE:
                await cur.execute(
                    "UPDATE daert_runs SET status = %s, finished_at = now(), updated_at = now(), "
                    "error = %s WHERE run_id = %s",
                    (status, Jsonb({"code": status, "message": f"run {status}"}), run_id),
                )
        return Displaced(row["run_id"], row["status"])

    async def delete(self, run_ids: list[str]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM daert_runs WHERE run_id = ANY(%s)", (run_ids,))

    async def delete_thread(self, thread_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM daert_runs WHERE thread_id = %s", (thread_id,))

    async def stale(self, older_than: float) -> list[Run]:
        """Running runs whose executor stopped reporting progress (its process died)."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_runs WHERE status = 'running' "
                "AND updated_at < now() - make_interval(secs => %s)",
                (older_than,),
            )
            rows = await cur.fetchall()
        return [_run(r) for r in rows]

    async def orphans(self, older_than: float) -> list[Run]:
        """Pending runs with no job (their creator died between commit and enqueue)."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_runs r WHERE status = 'pending' "
                "AND created_at < now() - make_interval(secs => %s) AND NOT EXISTS ("
                "SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = 'daert.run' "
                "AND j.args->>'run_id' = r.run_id AND j.status IN ('todo', 'doing'))",
                (older_than,),
            )
            rows = await cur.fetchall()
        return [_run(r) for r in rows]

    async def job_of(self, run_id: str) -> int | None:
        """The queue's job for a run that has not finished, if any."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM procrastinate_jobs WHERE task_name = 'daert.run' "
                "AND args->>'run_id' = %s AND status IN ('todo', 'doing') ORDER BY id DESC",
                (run_id,),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None
