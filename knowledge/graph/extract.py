"""Entity and relation extraction from chunks into the graph, through structured output.

The schema is small and configurable: the model may only name the entity types and relation
types it is given (the grammar or JSON schema enforces it). Names resolve to one node per
type (`entity_key`), and every node and edge links back to the chunk it was read from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from agents.gateway import GuidanceRunner, ModelGateway, structured
from knowledge.graph.ports import (
    Entity,
    GraphStore,
    Provenance,
    Relation,
    check_label,
    check_rel_type,
)

DEFAULT_ENTITY_TYPES = (
    "Person",
    "Organization",
    "Place",
    "Product",
    "Technology",
    "Event",
    "Concept",
)
DEFAULT_RELATION_TYPES = (
    "WORKS_FOR", "FOUNDED", "LOCATED_IN", "PART_OF", "CREATED", "USES", "KNOWS", "RELATED_TO",
)  # fmt: skip

PROMPT = (
    "Extract the named entities and the relations between them from the text. Use only these "
    "entity types: {types}. Use only these relation types: {relations}. Name each entity as "
    "written in the text. A relation's source and target must be names from your entity list. "
    "Return at most {max_items} entities and {max_items} relations; return empty lists if "
    "there is nothing to extract."
)


def extraction_model(
    types: Sequence[str], relations: Sequence[str], max_items: int
) -> type[BaseModel]:
    """A pydantic model whose JSON schema admits only the configured types."""
    for t in types:
        check_label(t)
    for r in relations:
        check_rel_type(r)
    strict = ConfigDict(extra="forbid")
    entity_type: Any = Literal[tuple(types)]
    relation_type: Any = Literal[tuple(relations)]
    entity = create_model(
        "ExtractedEntity",
        __config__=strict,
        name=(str, Field(min_length=1, max_length=80)),
        type=(entity_type, ...),
    )
    relation = create_model(
        "ExtractedRelation",
        __config__=strict,
        source=(str, Field(min_length=1, max_length=80)),
        relation=(relation_type, ...),
        target=(str, Field(min_length=1, max_length=80)),
    )
    return create_model(
        "Extraction",
        __config__=strict,
        entities=(list[entity], Field(max_length=max_items)),  # type: ignore[valid-type]
        relations=(list[relation], Field(max_length=max_items)),  # type: ignore[valid-type]
    )


@dataclass
class ExtractionResult:
    chunks: int = 0
    entities: int = 0
    relations: int = 0
    dropped_relations: int = 0


class Extractor:
    """Reads chunks with a model alias and writes what it finds into a GraphStore."""

    def __init__(
        self,
        gateway: ModelGateway,
        graph: GraphStore,
        *,
        alias: str = "planner",
        entity_types: Sequence[str] = DEFAULT_ENTITY_TYPES,
        relation_types: Sequence[str] = DEFAULT_RELATION_TYPES,
        max_items: int = 12,
        guidance_runner: GuidanceRunner | None = None,
    ) -> None:
        self.gateway = gateway
        self.graph = graph
        self.alias = alias
        self.model = extraction_model(entity_types, relation_types, max_items)
        self.instructions = PROMPT.format(
            types=", ".join(entity_types), relations=", ".join(relation_types), max_items=max_items
        )
        self.guidance_runner = guidance_runner

    async def extract(
        self, chunk_id: str, source: str, text: str, result: ExtractionResult
    ) -> None:
        found: Any = await structured(
            self.gateway,
            self.alias,
            [{"role": "system", "content": self.instructions}, {"role": "user", "content": text}],
            self.model,
            guidance_runner=self.guidance_runner,
            max_tokens=768,
        )
        entities: dict[str, Entity] = {}
        for item in found.entities:
            entity = Entity(item.name.strip(), str(item.type))
            entities.setdefault(entity.key, entity)
        relations = []
        for item in found.relations:
            src = entities.get(Entity(item.source, "X").key)
            dst = entities.get(Entity(item.target, "X").key)
            if src is None or dst is None or src.key == dst.key:
                result.dropped_relations += 1  # names the model did not list as entities
                continue
            relations.append(Relation(src, str(item.relation), dst))
        await self.graph.upsert(list(entities.values()), relations, Provenance(chunk_id, source))
        result.chunks += 1
        result.entities += len(entities)
        result.relations += len(relations)
