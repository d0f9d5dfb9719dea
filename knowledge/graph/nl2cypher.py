"""Natural language to Cypher, with the graph's schema in the prompt, enforced read-only.

The question only ever reaches the model as data; whatever query comes back passes the static
read-only check and then runs through the store's read-only path with a row limit and a
timeout. A question that talks the model into writing gets `cypher_write_refused`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.gateway import GuidanceRunner, ModelGateway, structured
from knowledge.graph.cypher_guard import check_read_only
from knowledge.graph.ports import GraphStore

SYSTEM = (
    "You write one read-only Cypher query that answers the user's question about this graph.\n"
    "{schema}\n"
    "Every entity node has the properties `name` (as written) and `key` (lower-case name). "
    "Match names with `toLower(n.name) CONTAINS '...'` or on `key`. Use only MATCH, OPTIONAL "
    "MATCH, WHERE, WITH, RETURN, ORDER BY and LIMIT; never create, change or delete anything. "
    "End with LIMIT {limit}."
)


class CypherQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cypher: str = Field(min_length=6, max_length=1000)


@dataclass(frozen=True)
class GraphAnswer:
    question: str
    cypher: str
    rows: list[dict[str, Any]]


async def ask(
    gateway: ModelGateway,
    graph: GraphStore,
    question: str,
    *,
    alias: str = "planner",
    limit: int = 50,
    timeout: float = 10.0,
    guidance_runner: GuidanceRunner | None = None,
) -> GraphAnswer:
    schema = await graph.schema()
    generated = await structured(
        gateway,
        alias,
        [
            {"role": "system", "content": SYSTEM.format(schema=schema.describe(), limit=limit)},
            {"role": "user", "content": question},
        ],
        CypherQuery,
        guidance_runner=guidance_runner,
        max_tokens=256,
    )
    cypher = check_read_only(generated.cypher)
    rows = await graph.read(cypher, limit=limit, timeout=timeout)
    return GraphAnswer(question, cypher, rows)
