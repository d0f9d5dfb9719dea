"""GraphStore on Neo4j 5 (production), through the official `neo4j` driver.

Reads run in READ-mode transactions (the server itself refuses writes) after the static check,
with a per-query timeout and a row limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import neo4j
from neo4j import AsyncGraphDatabase
from neo4j.exceptions import ClientError, Neo4jError, ServiceUnavailable

from core.errors import InputError, ServiceError
from knowledge.graph.cypher_store import CypherGraphStore


def _unreachable(err: Exception) -> ServiceError:
    return ServiceError(
        f"Neo4j is unreachable: {err}",
        hint="check that Neo4j at DAERT_NEO4J_URL is up and the password is right "
        "(`daert doctor` checks it)",
        code="graph_unavailable",
    )


class Neo4jGraphStore(CypherGraphStore):
    """A Neo4j database; entities carry a `key` property that resolves duplicates."""

    name = "neo4j"

    def __init__(self, url: str, user: str, password: str, database: str | None = None) -> None:
        self._driver = AsyncGraphDatabase.driver(url, auth=(user, password))
        self._database = database

    async def setup(self) -> None:
        await self._write("CREATE INDEX chunk_id IF NOT EXISTS FOR (c:Chunk) ON (c.id)", {})

    async def aclose(self) -> None:
        await self._driver.close()

    async def _write(self, cypher: str, params: Mapping[str, Any]) -> None:
        try:
            await self._driver.execute_query(
                cypher, dict(params), database_=self._database, routing_=neo4j.RoutingControl.WRITE
            )
        except ServiceUnavailable as err:
            raise _unreachable(err) from err
        except Neo4jError as err:  # a wrong password, a database that does not exist
            raise ServiceError(
                f"Neo4j refused the write: {err}",
                hint="check DAERT_NEO4J_USER / DAERT_NEO4J_PASSWORD (`daert doctor` checks them)",
                code="graph_unavailable",
            ) from err

    async def _read_rows(
        self, cypher: str, params: Mapping[str, Any], limit: int, timeout: float
    ) -> list[dict[str, Any]]:
        async def work(tx: neo4j.AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(cypher, dict(params))
            records = await result.fetch(limit)
            await result.consume()
            return [_plain(record.data()) for record in records]

        query_work = neo4j.unit_of_work(timeout=timeout)(work)
        try:
            async with self._driver.session(
                database=self._database, default_access_mode=neo4j.READ_ACCESS
            ) as session:
                rows: list[dict[str, Any]] = await session.execute_read(query_work)
                return rows
        except ServiceUnavailable as err:
            raise _unreachable(err) from err
        except ClientError as err:
            code = err.code or ""
            if "Timeout" in code or "TransactionTimedOut" in code:
                raise InputError(
                    f"the query ran past {timeout:g}s",
                    hint="add a LIMIT or narrow the MATCH, or allow more time",
                    code="cypher_timeout",
                ) from err
            if "AccessMode" in code or "Forbidden" in code:
                raise InputError(
                    "only read queries are allowed",
                    hint="use MATCH ... RETURN; the graph is changed only by `daert kg extract`",
                    code="cypher_write_refused",
                ) from err
            raise InputError(
                f"Cypher error: {err.message}", hint="fix the query", code="cypher_invalid"
            ) from err
        except Neo4jError as err:
            raise ServiceError(
                f"Neo4j failed: {err}", hint="see the Neo4j server's log", code="graph_unavailable"
            ) from err

    async def clear(self) -> None:
        await self._write("MATCH (n) DETACH DELETE n", {})


def _plain(value: Any) -> Any:
    if isinstance(value, neo4j.graph.Node):
        return {"labels": sorted(value.labels), **dict(value)}
    if isinstance(value, neo4j.graph.Relationship):
        return {"type": value.type, **dict(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
