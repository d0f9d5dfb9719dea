"""GraphStore on FalkorDB (the embedded default), through the `falkordb` client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from falkordb.asyncio import FalkorDB
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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


class FalkorGraphStore:
    """One named graph in a Redis that has the FalkorDB module loaded."""

    name = "falkordb"

    def __init__(self, url: str, graph: str = "daert") -> None:
        pool = BlockingConnectionPool.from_url(url, max_connections=8, timeout=10)
        self._db = FalkorDB(connection_pool=pool)
        self._graph = self._db.select_graph(graph)
        self._pool = pool

    async def setup(self) -> None:
        try:
            await self._graph.query("CREATE INDEX FOR (c:Chunk) ON (c.id)")
        except ResponseError as err:
            if "already indexed" not in str(err).lower():
                raise

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def _write(self, cypher: str, params: Mapping[str, Any]) -> None:
        try:
            await self._graph.query(cypher, dict(params))
        except RedisError as err:
            raise ServiceError(f"FalkorDB write failed: {err}", code="graph_unavailable") from err

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

    async def neighbourhood(self, names: Sequence[str], hops: int = 1, limit: int = 50) -> Subgraph:
        keys = [entity_key(n) for n in names]
        query = NEIGHBOURHOOD.format(hops=max(1, min(hops, 3)))
        rows = await self._read_rows(query, {"keys": keys, "limit": limit}, limit, 10.0)
        return subgraph_from_rows(rows)

    async def read(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, limit: int = 100,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:  # fmt: skip
        return await self._read_rows(check_read_only(cypher), params or {}, limit, timeout)

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
                raise InputError(f"the query ran past {timeout:g}s", code="cypher_timeout") from err
            raise InputError(
                f"Cypher error: {text}", hint="fix the query", code="cypher_invalid"
            ) from err
        except RedisTimeoutError as err:  # the client waits as long as the query may run
            raise InputError(f"the query ran past {timeout:g}s", code="cypher_timeout") from err
        except RedisError as err:
            raise ServiceError(f"FalkorDB is unreachable: {err}", code="graph_unavailable") from err
        header = [_text(h[1] if isinstance(h, list | tuple) else h) for h in result.header]
        return [dict(zip(header, (_plain(v) for v in row), strict=False))
                for row in result.result_set[:limit]]  # fmt: skip

    async def schema(self) -> GraphSchema:
        labels = [r["label"] for r in await self._read_rows("CALL db.labels()", {}, 1000, 10)]
        rels = [r["relationshipType"] for r in
                await self._read_rows("CALL db.relationshipTypes()", {}, 1000, 10)]  # fmt: skip
        props: dict[str, list[str]] = {}
        for label in labels:
            rows = await self._read_rows(
                f"MATCH (n:{check_label(label)}) WITH n LIMIT 100 UNWIND keys(n) AS k "
                "RETURN DISTINCT k", {}, 100, 10)  # fmt: skip
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
        rows = await self._read_rows(
            "MATCH (n) WHERE NOT n:Chunk RETURN count(n) AS entities", {}, 1, 10
        )
        rels = await self._read_rows(
            "MATCH ()-[r]->() WHERE type(r) <> 'MENTIONED_IN' RETURN count(r) AS relations",
            {},
            1,
            10,
        )
        return {"entities": int(rows[0]["entities"]), "relations": int(rels[0]["relations"])}

    async def clear(self) -> None:
        try:
            await self._graph.delete()
        except ResponseError as err:
            if "empty key" not in str(err).lower() and "invalid graph" not in str(err).lower():
                raise


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
