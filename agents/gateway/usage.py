"""Usage accounting: tokens, cost and latency of every model call, per thread and user."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.migrations import migrate


@dataclass(frozen=True)
class ModelCall:
    """One call through the gateway, successful or not."""

    alias: str
    deployment: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    ok: bool
    error_code: str | None = None
    streamed: bool = False
    thread_id: str | None = None
    user_id: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class UsageSummary:
    alias: str
    calls: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    p50_latency_ms: float | None
    last_latency_ms: float | None


class UsageStore(Protocol):
    """Where model calls are recorded and summed up."""

    async def setup(self) -> None:
        """Create or migrate what the store needs; safe to call every start."""

    async def record(self, call: ModelCall) -> None: ...

    async def summary(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        thread_id: str | None = None,
        user_id: str | None = None,
    ) -> list[UsageSummary]:
        """Calls per alias, those made from `since` to `until` (both included) when given."""
        ...


MIGRATIONS = [
    """
    CREATE TABLE model_calls (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        alias text NOT NULL,
        deployment text NOT NULL,
        model text NOT NULL,
        thread_id text,
        user_id text,
        prompt_tokens integer NOT NULL,
        completion_tokens integer NOT NULL,
        cost_usd double precision,
        latency_ms double precision NOT NULL,
        ok boolean NOT NULL,
        error_code text,
        streamed boolean NOT NULL DEFAULT false
    );
    CREATE INDEX model_calls_at ON model_calls (at);
    CREATE INDEX model_calls_thread ON model_calls (thread_id) WHERE thread_id IS NOT NULL;
    CREATE INDEX model_calls_user ON model_calls (user_id) WHERE user_id IS NOT NULL;
    """,
]


class PostgresUsageStore:
    """`model_calls` in PostgreSQL: through the runtime's shared pool, or (given a URL, for a
    command that only reads) one short-lived connection per call."""

    def __init__(self, target: str | AsyncConnectionPool[Any]) -> None:
        self.target = target

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self.target, str):
            async with await psycopg.AsyncConnection.connect(self.target, autocommit=True) as conn:
                yield conn
        else:
            async with self.target.connection() as conn:
                yield conn

    async def setup(self) -> None:
        async with self._connection() as conn:
            await migrate(conn, "usage", MIGRATIONS)

    async def record(self, call: ModelCall) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO model_calls (at, alias, deployment, model, thread_id, user_id, "
                "prompt_tokens, completion_tokens, cost_usd, latency_ms, ok, error_code, streamed) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    call.at, call.alias, call.deployment, call.model, call.thread_id,
                    call.user_id, call.prompt_tokens, call.completion_tokens, call.cost_usd,
                    call.latency_ms, call.ok, call.error_code, call.streamed,
                ),
            )  # fmt: skip

    async def summary(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        thread_id: str | None = None,
        user_id: str | None = None,
    ) -> list[UsageSummary]:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = await (
                await cursor.execute(
                    """
                    SELECT alias, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS failures,
                           coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
                           coalesce(sum(completion_tokens), 0) AS completion_tokens,
                           coalesce(sum(cost_usd), 0) AS cost_usd,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                           (array_agg(latency_ms ORDER BY at DESC))[1] AS last_latency
                    FROM model_calls
                    WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)
                      AND (%(until)s::timestamptz IS NULL OR at <= %(until)s)
                      AND (%(thread)s::text IS NULL OR thread_id = %(thread)s)
                      AND (%(user)s::text IS NULL OR user_id = %(user)s)
                    GROUP BY alias ORDER BY alias
                    """,
                    {"since": since, "until": until, "thread": thread_id, "user": user_id},
                )
            ).fetchall()
        return [
            UsageSummary(
                alias=r["alias"],
                calls=int(r["calls"]),
                failures=int(r["failures"]),
                prompt_tokens=int(r["prompt_tokens"]),
                completion_tokens=int(r["completion_tokens"]),
                cost_usd=float(r["cost_usd"]),
                p50_latency_ms=r["p50"],
                last_latency_ms=r["last_latency"],
            )
            for r in rows
        ]
