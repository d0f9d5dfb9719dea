"""The one PostgreSQL pool of a process, in the shape every user of it needs.

LangGraph's checkpointer and store want autocommit connections (they set dict rows on their
own cursors); the knowledge store needs the `vector` type registered. Statements are prepared
on the server after a few runs (psycopg's default), so the queries of every turn are, and a
migration's several statements (run once) never are. One pool of such connections serves all
of them, our tables included: a write that must be atomic opens a transaction.
"""

from __future__ import annotations

import contextlib
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from daert.reach import CONNECT_TIMEOUT, check_postgres, postgres_unreachable, with_connect_timeout
from daert.settings import Settings


async def _configure(conn: AsyncConnection) -> None:
    from pgvector.psycopg import register_vector_async  # noqa: PLC0415

    await register_vector_async(conn)


async def open_pool(
    stack: contextlib.AsyncExitStack, settings: Settings, url: str
) -> AsyncConnectionPool[Any]:
    """Open the pool (closed by `stack`); PostgreSQL down is said in seconds, with the fix."""
    await check_postgres(settings, url)
    conninfo = with_connect_timeout(url)
    async with await AsyncConnection.connect(conninfo, autocommit=True) as conn:
        # Before the pool: its connections register the type this creates.
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # A connection that PostgreSQL dropped (a restart) is replaced before use, not failed on;
    # while PostgreSQL is down, a caller waits `timeout` for a connection, then fails clearly.
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, min_size=1, max_size=settings.postgres_pool_size, open=False,
        check=AsyncConnectionPool.check_connection, configure=_configure,
        timeout=4 * CONNECT_TIMEOUT,
        kwargs={"autocommit": True},
    )  # fmt: skip
    stack.push_async_callback(pool.close)
    try:
        await pool.open(wait=True, timeout=4 * CONNECT_TIMEOUT)
    except PoolTimeout as error:
        raise postgres_unreachable(settings, url, error) from None
    return pool
