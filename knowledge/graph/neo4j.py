"""GraphStore on Neo4j 5 (production), through the official `neo4j` driver.

Reads run in READ-mode transactions (the server itself refuses writes) after the static check,
with a per-query timeout and a row limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import neo4j
from neo4j import AsyncGraphDatabase
from neo4j.exceptions import ClientError, Neo4jError, ServiceUnavailable

from daert.errors import InputError, ServiceError
from knowledge.graph.cypher_guard import check_read_only
from knowledge.graph.ports import (
    Entity,
    GraphSchema,
    Provenance,
    Relation,
    Subgraph,
    check_label,
    check_rel_type,
    entity_key,
)
from knowledge.graph.writes import NEIGHBOURHOOD, entity_rows, relation_rows, subgraph_from_rows


class Neo4jGraphStore:
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
            raise ServiceError(f"Neo4j is unreachable: {err}", code="graph_unavailable") from err

    async def upsert(
        self, entities: Sequence[Entity], relations: Sequence[Relation], provenance: Provenance
    ) -> None:
        await self._write(
            "MERGE (c:Chunk {id: $id}) SET c.source = $source",
            {"id": provenance.chunk_id, "source": provenance.source},
        )
        for label, rows in entity_rows(entities).items():
            await self._write(
                f"UNWIND $rows AS row MERGE (e:{check_label(label)} {{key: row.key}}) "
                "ON CREATE SET e.name = row.name SET e += row.props "
                "WITH e MATCH (c:Chunk {id: $chunk}) MERGE (e)-[:MENTIONED_IN]->(c)",
                {"rows": rows, "chunk": provenance.chunk_id},
            )
        for (src, rel, dst), rows in relation_rows(relations).items():
            await self._write(
                f"UNWIND $rows AS row MATCH (a:{check_label(src)} {{key: row.a}}) "
                f"MATCH (b:{check_label(dst)} {{key: row.b}}) "
                f"MERGE (a)-[r:{check_rel_type(rel)}]->(b) ON CREATE SET r.chunks = [] "
                "SET r.chunks = CASE WHEN $chunk IN r.chunks THEN r.chunks "
                "ELSE r.chunks + $chunk END",
                {"rows": rows, "chunk": provenance.chunk_id},
            )

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
            raise ServiceError(f"Neo4j is unreachable: {err}", code="graph_unavailable") from err
        except ClientError as err:
            code = err.code or ""
            if "Timeout" in code or "TransactionTimedOut" in code:
                raise InputError(f"the query ran past {timeout:g}s", code="cypher_timeout") from err
            if "AccessMode" in code or "Forbidden" in code:
                raise InputError(
                    "only read queries are allowed", code="cypher_write_refused"
                ) from err
            raise InputError(
                f"Cypher error: {err.message}", hint="fix the query", code="cypher_invalid"
            ) from err
        except Neo4jError as err:
            raise ServiceError(f"Neo4j failed: {err}", code="graph_unavailable") from err

    async def read(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, limit: int = 100,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:  # fmt: skip
        return await self._read_rows(check_read_only(cypher), params or {}, limit, timeout)

    async def neighbourhood(self, names: Sequence[str], hops: int = 1, limit: int = 50) -> Subgraph:
        keys = [entity_key(n) for n in names]
        query = NEIGHBOURHOOD.format(hops=max(1, min(hops, 3)))
        return subgraph_from_rows(
            await self._read_rows(query, {"keys": keys, "limit": limit}, limit, 10.0)
        )

    async def schema(self) -> GraphSchema:
        labels = [r["label"] for r in await self._read_rows("CALL db.labels()", {}, 1000, 10)]
        rels = [
            r["relationshipType"]
            for r in await self._read_rows("CALL db.relationshipTypes()", {}, 1000, 10)
        ]
        props: dict[str, list[str]] = {}
        for label in labels:
            rows = await self._read_rows(
                f"MATCH (n:{check_label(label)}) WITH n LIMIT 100 UNWIND keys(n) AS k "
                "RETURN DISTINCT k",
                {},
                100,
                10,
            )
            props[label] = [r["k"] for r in rows]
        return GraphSchema(labels=sorted(labels), relationship_types=sorted(rels), properties=props)

    async def delete_source(self, source: str) -> int:
        rows = await self._read_rows(
            "MATCH (c:Chunk {source: $s}) RETURN c.id AS id", {"s": source}, 100_000, 30
        )
        ids = [r["id"] for r in rows]
        if not ids:
            return 0
        await self._write(
            "MATCH ()-[r]->() WHERE r.chunks IS NOT NULL "
            "SET r.chunks = [x IN r.chunks WHERE NOT x IN $ids]",
            {"ids": ids},
        )
        await self._write("MATCH ()-[r]->() WHERE size(r.chunks) = 0 DELETE r", {})
        await self._write("MATCH (c:Chunk) WHERE c.id IN $ids DETACH DELETE c", {"ids": ids})
        await self._write(
            "MATCH (e) WHERE NOT e:Chunk AND NOT (e)-[:MENTIONED_IN]->() DETACH DELETE e", {}
        )
        return len(ids)

    async def counts(self) -> dict[str, int]:
        entities = await self._read_rows(
            "MATCH (n) WHERE NOT n:Chunk RETURN count(n) AS entities", {}, 1, 10
        )
        relations = await self._read_rows(
            "MATCH ()-[r]->() WHERE type(r) <> 'MENTIONED_IN' RETURN count(r) AS relations",
            {},
            1,
            10,
        )
        return {
            "entities": int(entities[0]["entities"]),
            "relations": int(relations[0]["relations"]),
        }

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
