"""GraphStore on FalkorDB (the embedded default), through the `falkordb` client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from falkordb.asyncio import FalkorDB
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import InputError, ServiceError
from knowledge.graph.cypher_store import CypherGraphStore

UNREACHABLE_HINT = (
    "check that the Redis with FalkorDB at DAERT_FALKORDB_URL (or DAERT_REDIS_URL) is up, or "
    "run `daert up` for the embedded one; `daert doctor` shows which"
)


def _unreachable(err: RedisError) -> ServiceError:
    return ServiceError(
        f"FalkorDB is unreachable: {err}", hint=UNREACHABLE_HINT, code="graph_unavailable"
    )


def _too_slow(timeout: float) -> InputError:
    return InputError(
        f"the query ran past {timeout:g}s",
        hint="add a LIMIT or narrow the MATCH, or allow more time (`daert kg cypher --timeout`)",
        code="cypher_timeout",
    )


class FalkorGraphStore(CypherGraphStore):
    """One named graph in a Redis that has the FalkorDB module loaded."""

    name = "falkordb"

    def __init__(self, url: str, graph: str = "daert") -> None:
        # A host that never answers fails in 5 s (`?socket_connect_timeout=` in the URL wins).
        pool = BlockingConnectionPool.from_url(
            url, max_connections=8, timeout=10, socket_connect_timeout=5
        )
        try:  # the client asks the server whether it is a cluster, at once
            self._db = FalkorDB(connection_pool=pool)
        except RedisError as err:
            raise _unreachable(err) from err
        self._graph = self._db.select_graph(graph)
        self._pool = pool

    async def setup(self) -> None:
        try:
            await self._graph.query("CREATE INDEX FOR (c:Chunk) ON (c.id)")
        except ResponseError as err:
            if "already indexed" not in str(err).lower():
                raise
        except RedisError as err:  # refused, reset, timed out: not a bug, a service down
            raise _unreachable(err) from err

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def _write(self, cypher: str, params: Mapping[str, Any]) -> None:
        try:
            await self._graph.query(cypher, dict(params))
        except ResponseError as err:
            raise ServiceError(
                f"FalkorDB refused a write: {err}",
                hint="retry; `daert doctor` checks FalkorDB",
                code="graph_unavailable",
            ) from err
        except RedisError as err:
            raise _unreachable(err) from err

    async def _read_rows(
        self, cypher: str, params: Mapping[str, Any], limit: int, timeout: float
    ) -> list[dict[str, Any]]:
        try:
            result = await self._graph.ro_query(cypher, dict(params), timeout=int(timeout * 1000))
        except ResponseError as err:
            text = str(err)
            if "empty key" in text.lower():
                return []
            if "timed out" in text.lower() or "timeout" in text.lower():
                raise _too_slow(timeout) from err
            raise InputError(
                f"Cypher error: {text}", hint="fix the query", code="cypher_invalid"
            ) from err
        except RedisTimeoutError as err:  # the client waits as long as the query may run
            raise _too_slow(timeout) from err
        except RedisError as err:
            raise _unreachable(err) from err
        header = [_text(h[1] if isinstance(h, list | tuple) else h) for h in result.header]
        return [dict(zip(header, (_plain(v) for v in row), strict=False))
                for row in result.result_set[:limit]]  # fmt: skip

    async def clear(self) -> None:
        try:
            await self._graph.delete()
        except ResponseError as err:
            if "empty key" not in str(err).lower() and "invalid graph" not in str(err).lower():
                raise
        except RedisError as err:
            raise _unreachable(err) from err


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _plain(value: Any) -> Any:
    """FalkorDB Node/Edge objects as plain dicts, like the Neo4j adapter returns them."""
    if hasattr(value, "labels") and hasattr(value, "properties"):
        return {"labels": list(value.labels), **dict(value.properties)}
    if hasattr(value, "relation") and hasattr(value, "properties"):
        return {"type": value.relation, **dict(value.properties)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
