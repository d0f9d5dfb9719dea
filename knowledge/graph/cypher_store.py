"""The Cypher both graph adapters share: they differ only in how a statement reaches the server."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

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


class CypherGraphStore(ABC):
    """GraphStore behaviour on top of two primitives: a write, and a limited read-only read."""

    @abstractmethod
    async def _write(self, cypher: str, params: Mapping[str, Any]) -> None: ...

    @abstractmethod
    async def _read_rows(
        self, cypher: str, params: Mapping[str, Any], limit: int, timeout: float
    ) -> list[dict[str, Any]]: ...

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
