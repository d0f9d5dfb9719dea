"""Context management: token counts, which turns the summary covers, what is sent verbatim.

And which questions are self-contained enough to answer from the semantic cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from knowledge.ingest.chunking import estimate_tokens

# Words that point back into the conversation: a question using them is not self-contained.
DEICTIC = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|he|she|him|her|his|above|previous|"
    r"earlier|again|same|former|latter|more|else|also|too|instead|why not|and then)\b",
    re.IGNORECASE,
)


def message_text(message: AnyMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
    )


def tokens(messages: Sequence[AnyMessage]) -> int:
    return sum(estimate_tokens(message_text(m)) + 4 for m in messages)


def role(message: AnyMessage) -> str:
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    return "system"


def recent(messages: Sequence[AnyMessage], budget: int, *, start: int = 0) -> list[AnyMessage]:
    """The newest messages after `start` that fit `budget` tokens (at least the last one)."""
    kept: list[AnyMessage] = []
    used = 0
    for message in reversed(messages[start:]):
        cost = estimate_tokens(message_text(message)) + 4
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    return list(reversed(kept))


def needs_summary(messages: Sequence[AnyMessage], summarized: int, budget: int) -> bool:
    """True when the messages the summary does not cover pass the history budget."""
    return tokens(messages[summarized:]) > budget


def self_contained(question: str, earlier_turns: int) -> bool:
    """A question that can be answered without the conversation (so it may be cached)."""
    if earlier_turns == 0:
        return True
    return DEICTIC.search(question) is None and len(question.split()) >= 3
