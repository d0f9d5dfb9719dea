"""Thread persistence: the PostgreSQL checkpointer, a registry of threads, and retention.

LangGraph keeps every checkpoint of every thread forever; `Retention` bounds that: threads
idle for `keep_days` are deleted whole, and threads idle for `compact_after` seconds keep only
their latest checkpoint (enough to continue the conversation).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from core.migrations import migrate

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool

THREAD_MIGRATIONS = [
    """CREATE TABLE daert_threads (
        thread_id text PRIMARY KEY,
        user_id text NOT NULL,
        title text NOT NULL DEFAULT '',
        turns integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        compacted_at timestamptz
    )""",
    "CREATE INDEX daert_threads_user ON daert_threads (user_id, updated_at DESC)",
    "CREATE INDEX daert_threads_updated ON daert_threads (updated_at)",
    "ALTER TABLE daert_threads ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb",
]
THREAD_COLUMNS = "thread_id, user_id, title, turns, created_at, updated_at, metadata"


@dataclass(frozen=True)
class ThreadInfo:
    thread_id: str
    user_id: str
    title: str
    turns: int
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetentionReport:
    deleted: list[str]
    compacted: list[str]


class ThreadRegistry:
    """Who owns a thread, its title, and when it was last used (what retention reads)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await migrate(conn, "threads", THREAD_MIGRATIONS)

    async def touch(self, thread_id: str, user_id: str, title: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO daert_threads (thread_id, user_id, title, turns) "
                "VALUES (%s, %s, %s, 1) ON CONFLICT (thread_id) DO UPDATE "
                "SET turns = daert_threads.turns + 1, updated_at = now()",
                (thread_id, user_id, title[:120]),
            )

    async def get(self, thread_id: str) -> ThreadInfo | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM daert_threads WHERE thread_id = %s",
                (thread_id,),
            )
            row = await cur.fetchone()
        return ThreadInfo(*row) if row else None

    async def list(self, user_id: str | None = None, limit: int = 50) -> list[ThreadInfo]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM daert_threads "
                "WHERE %(u)s::text IS NULL OR user_id = %(u)s "
                "ORDER BY updated_at DESC LIMIT %(n)s",
                {"u": user_id, "n": limit},
            )
            rows = await cur.fetchall()
        return [ThreadInfo(*r) for r in rows]

    async def create(
        self, thread_id: str, user_id: str, metadata: dict[str, Any] | None = None
    ) -> ThreadInfo | None:
        """A new empty thread; None when the id is taken (by anyone)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO daert_threads (thread_id, user_id, title, turns, metadata) "
                "VALUES (%s, %s, '', 0, %s) ON CONFLICT (thread_id) DO NOTHING "
                f"RETURNING {THREAD_COLUMNS}",
                (thread_id, user_id, Jsonb(metadata or {})),
            )
            row = await cur.fetchone()
        return ThreadInfo(*row) if row else None

    async def update_metadata(self, thread_id: str, metadata: dict[str, Any]) -> None:
        """Merge keys into the thread's metadata."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE daert_threads SET metadata = metadata || %s, updated_at = now() "
                "WHERE thread_id = %s",
                (Jsonb(metadata), thread_id),
            )

    async def search(
        self,
        user_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        ids: builtins.list[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        order: str = "updated_at DESC",
    ) -> builtins.list[ThreadInfo]:
        """A user's threads whose metadata contains `metadata`, newest first."""
        if order not in ("updated_at DESC", "updated_at ASC", "created_at DESC", "created_at ASC"):
            order = "updated_at DESC"
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM daert_threads WHERE user_id = %(u)s "
                "AND metadata @> %(m)s AND (%(ids)s::text[] IS NULL OR thread_id = ANY(%(ids)s)) "
                f"ORDER BY {order}, thread_id LIMIT %(n)s OFFSET %(o)s",
                {"u": user_id, "m": Jsonb(metadata or {}), "ids": ids, "n": limit, "o": offset},
            )
            rows = await cur.fetchall()
        return [ThreadInfo(*r) for r in rows]

    async def forget(self, thread_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM daert_threads WHERE thread_id = %s", (thread_id,))


class Retention:
    def __init__(
        self,
        saver: AsyncPostgresSaver,
        registry: ThreadRegistry,
        *,
        keep_days: float = 90.0,
        compact_after: float = 3600.0,
    ) -> None:
        self.saver = saver
        self.registry = registry
        self.keep_days = keep_days
        self.compact_after = compact_after

    async def delete_thread(self, thread_id: str) -> None:
        await self.saver.adelete_thread(thread_id)
        await self.registry.forget(thread_id)

    async def run(self) -> RetentionReport:
        async with self.registry.pool.connection() as conn:
            stale = await (
                await conn.execute(
                    "SELECT thread_id FROM daert_threads "
                    "WHERE updated_at < now() - make_interval(secs => %s)",
                    (self.keep_days * 86400,),
                )
            ).fetchall()
            idle = await (
                await conn.execute(
                    "SELECT thread_id FROM daert_threads "
                    "WHERE updated_at < now() - make_interval(secs => %s) "
                    "AND updated_at >= now() - make_interval(secs => %s) "
                    "AND (compacted_at IS NULL OR compacted_at < updated_at)",
                    (self.compact_after, self.keep_days * 86400),
                )
            ).fetchall()
        deleted = [str(r[0]) for r in stale]
        for thread_id in deleted:
            await self.delete_thread(thread_id)
        compacted = [str(r[0]) for r in idle]
        if compacted:
            await self.saver.aprune(compacted, strategy="keep_latest")
            async with self.registry.pool.connection() as conn:
                await conn.execute(
                    "UPDATE daert_threads SET compacted_at = now() WHERE thread_id = ANY(%s)",
                    (compacted,),
                )
        return RetentionReport(deleted=deleted, compacted=compacted)
