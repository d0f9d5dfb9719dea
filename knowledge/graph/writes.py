"""Cypher and row shaping shared by every GraphStore adapter."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from knowledge.graph.ports import Entity, Relation, Subgraph

# Both ends of every relation within `hops` of the named entities (provenance edges excluded).
NEIGHBOURHOOD = (
    "MATCH (s) WHERE s.key IN $keys "
    "MATCH p = (s)-[*1..{hops}]-(x) "
    "UNWIND relationships(p) AS r "
    "WITH DISTINCT r WHERE type(r) <> 'MENTIONED_IN' "
    "WITH startNode(r) AS a, r, endNode(r) AS b "
    "RETURN a.name AS a_name, labels(a)[0] AS a_type, a.key AS a_key, type(r) AS rel, "
    "r.chunks AS chunks, b.name AS b_name, labels(b)[0] AS b_type, b.key AS b_key "
    "LIMIT $limit"
)


def entity_rows(entities: Sequence[Entity]) -> dict[str, list[dict[str, Any]]]:
    """Entities grouped by label (labels cannot be query parameters)."""
    rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in entities:
        props = {k: v for k, v in e.properties.items() if isinstance(v, str | int | float | bool)}
        rows[e.type][e.key] = {"key": e.key, "name": e.name.strip(), "props": props}
    return {label: list(by_key.values()) for label, by_key in rows.items()}


def relation_rows(
    relations: Sequence[Relation],
) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    rows: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for r in relations:
        row = {"a": r.source.key, "b": r.target.key}
        group = rows[(r.source.type, r.type, r.target.type)]
        if row not in group:
            group.append(row)
    return dict(rows)


def subgraph_from_rows(rows: list[dict[str, Any]]) -> Subgraph:
    """Rows of NEIGHBOURHOOD as distinct nodes and edges."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        for side in ("a", "b"):
            node = {
                "name": row[f"{side}_name"],
                "type": row[f"{side}_type"],
                "key": row[f"{side}_key"],
            }
            nodes[f"{node['type']}:{node['key']}"] = node
        edge = (f"{row['a_type']}:{row['a_key']}", row["rel"], f"{row['b_type']}:{row['b_key']}")
        edges[edge] = {"source": edge[0], "type": edge[1], "target": edge[2],
                       "chunks": list(row.get("chunks") or [])}  # fmt: skip
    return Subgraph(nodes=list(nodes.values()), edges=list(edges.values()))
