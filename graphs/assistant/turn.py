"""What one turn carries between its nodes without checkpointing it.

Passed as LangGraph's run context (`graph.astream(..., context=TurnContext(...))`): the
question's vector is computed once and used by the router, retrieval, memory recall and the
cache; a cached answer goes from the lookup to the answer node. None of it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TurnContext:
    thread_id: str
    user_id: str
    question: str = ""
    run_id: str | None = None  # the durable run this turn belongs to (idempotent side effects)
    vector: list[float] | None = None  # the question's embedding, once per turn
    cached_answer: str = ""
    cached_citations: list[dict[str, Any]] = field(default_factory=list)
