"""The GraphStore port and the records that cross it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import require_match

LABEL = re.compile(r"^[A-Z][A-Za-z0-9_]{0,62}$")
REL_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,62}$")


def entity_key(name: str) -> str:
    """Entity resolution: one node per type and normalized name, whatever the spacing or case."""
    return re.sub(r"\s+", " ", name).strip().casefold()


def check_label(label: str) -> str:
    return require_match(
        LABEL, label, what="entity type", code="graph_label_invalid",
        hint="entity types are CamelCase identifiers such as Person or Organization",
    )  # fmt: skip


def check_rel_type(rel: str) -> str:
    return require_match(
        REL_TYPE, rel, what="relation type", code="graph_relation_invalid",
        hint="relation types are UPPER_SNAKE_CASE such as WORKS_FOR",
    )  # fmt: skip


@dataclass(frozen=True)
class Entity:
    name: str
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return entity_key(self.name)


@dataclass(frozen=True)
class Relation:
    source: Entity
    type: str
    target: Entity


@dataclass(frozen=True)
class Provenance:
    """The chunk a fact was read from."""

    chunk_id: str
    source: str


@dataclass
class GraphSchema:
    labels: list[str]
    relationship_types: list[str]
    properties: dict[str, list[str]]

    def describe(self) -> str:
        """The schema as the NL-to-Cypher prompt shows it."""
        lines = ["Node labels: " + ", ".join(self.labels or ["(none)"])]
        lines.append("Relationship types: " + ", ".join(self.relationship_types or ["(none)"]))
        for label, props in sorted(self.properties.items()):
            lines.append(f"(:{label}) properties: {', '.join(sorted(props))}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Subgraph:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class GraphStore(Protocol):
    """A property graph with entity resolution and provenance, queried in Cypher."""

    name: str

    async def setup(self) -> None: ...

    async def aclose(self) -> None: ...

    async def upsert(
        self, entities: Sequence[Entity], relations: Sequence[Relation], provenance: Provenance
    ) -> None: ...

    async def neighbourhood(
        self, names: Sequence[str], hops: int = 1, limit: int = 50
    ) -> Subgraph: ...

    async def read(
        self, cypher: str, params: Mapping[str, Any] | None = None, *, limit: int = 100,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    async def schema(self) -> GraphSchema: ...

    async def delete_source(self, source: str) -> int: ...

    async def counts(self) -> dict[str, int]: ...

    async def clear(self) -> None: ...
