"""The one PostgreSQL pool of a process, in the shape every user of it needs.

LangGraph's checkpointer and store want autocommit connections (they set dict rows on their
own cursors); the knowledge store needs the `vector` type registered. Statements are prepared
on the server after a few runs (psycopg's default), so the queries of every turn are, and a
migration's several statements (run once) never are. One pool of such connections serves all
of them, our tables included: a write that must be atomic opens a transaction.
"""

from __future__ import annotations

import contextlib
import select
import time
import weakref
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from daert.reach import CONNECT_TIMEOUT, check_postgres, postgres_unreachable, with_connect_timeout
from daert.settings import Settings

# A connection idle longer than this is checked with a round trip before use.
IDLE_CHECK = 30.0
_last_used: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()


async def _configure(conn: AsyncConnection) -> None:
    from pgvector.psycopg import register_vector_async  # noqa: PLC0415

    await register_vector_async(conn)


async def _returned(conn: AsyncConnection) -> None:
    _last_used[conn] = time.monotonic()


def _has_news(conn: AsyncConnection) -> bool:
    """An idle connection whose socket has something to read was told something unasked:
    PostgreSQL terminating it (a shutdown or restart), or the socket closing."""
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)


async def _check(conn: AsyncConnection) -> None:
    """Check a connection before use with a round trip only when it may be dead: it sat idle
    a long while, or PostgreSQL sent it something while idle (it does before it terminates
    a connection). A check on every use would double every query's round trips."""
    idle = time.monotonic() - _last_used.get(conn, 0.0)
    if conn.broken or idle > IDLE_CHECK or _has_news(conn):
        await AsyncConnectionPool.check_connection(conn)


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
        check=_check, configure=_configure, reset=_returned,
        timeout=4 * CONNECT_TIMEOUT,
        kwargs={"autocommit": True},
    )  # fmt: skip
    stack.push_async_callback(pool.close)
    try:
        await pool.open(wait=True, timeout=4 * CONNECT_TIMEOUT)
    except PoolTimeout as error:
        raise postgres_unreachable(settings, url, error) from None
    return pool
