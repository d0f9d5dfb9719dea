"""Long-term memory of user facts: a LangGraph store on PostgreSQL with vector search.

Facts are saved when the user states them ("remember that ...", "my name is ...", "I prefer
..."), recalled into the prompt when relevant to the question, and listed, edited or deleted
by the user (`daert memory ...`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from core.errors import InputError, require_match

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

MAX_FACT_CHARS = 500
USER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")  # e-mails, `telegram:123`: no control chars
REMEMBER = re.compile(r"^\s*(?:please\s+)?remember(?:\s+that)?[\s,:]+(.+)$", re.IGNORECASE | re.S)
SELF_STATEMENT = re.compile(
    r"^\s*(?:i\s+(?:am|'m|live|work|prefer|like|love|hate|dislike|don't like|do not like|"
    r"use|speak|study|was born|have)\b|my\s+[\w ]{1,30}?\s+(?:is|are|was)\b|call me\b)",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Statements about the moment, not lasting facts: "I am looking for ...", "I'm not sure ...".
PASSING = re.compile(
    r"\b(not sure|wonder|wondering|looking for|trying|going to|want|wanted|need|would like|"
    r"asking|curious|confused|stuck|here to|just)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MemoryItem:
    id: str
    text: str
    updated_at: datetime
    score: float | None = None


def facts_in(message: str) -> list[str]:
    """The user facts a message states, in the user's words (questions are not facts)."""
    explicit = REMEMBER.match(message.strip())
    if explicit:
        fact = explicit.group(1).strip()
        return [fact[:MAX_FACT_CHARS]] if fact else []
    found = []
    for sentence in SENTENCE.split(message):
        text = sentence.strip()
        if (
            text
            and not text.endswith("?")
            and SELF_STATEMENT.match(text)
            and not PASSING.search(text)
        ):
            found.append(text[:MAX_FACT_CHARS])
    return found


def _checked(text: str) -> str:
    """A fact to store as given: never silently cut short."""
    text = text.strip()
    if not text:
        raise InputError(
            "a memory needs some text", hint="state one fact, e.g. 'I prefer tea'",
            code="empty_memory",
        )  # fmt: skip
    if len(text) > MAX_FACT_CHARS:
        raise InputError(
            f"a memory is at most {MAX_FACT_CHARS} characters; this one has {len(text)}",
            hint="keep one short fact per memory; put documents in the knowledge base "
            "with `daert ingest`",
            code="memory_too_long",
        )
    return text


def check_user(user: str) -> str:
    """A user id: 1-128 characters, none of them control characters."""
    return require_match(
        USER_ID, user, what="user id", code="invalid_user_id",
        hint="user ids are 1-128 characters without control characters, e.g. alice@example.com",
    )  # fmt: skip


def user_label(user: str) -> str:
    """A user id as a store namespace label (labels may not contain dots; e-mails do)."""
    return quote(check_user(user), safe="@-_").replace(".", "%2E")


def _namespace(user: str) -> tuple[str, str]:
    return ("memories", user_label(user))


def _item(raw: Any) -> MemoryItem:
    return MemoryItem(
        id=str(raw.key),
        text=str(raw.value.get("text", "")),
        updated_at=raw.updated_at,
        score=getattr(raw, "score", None),
    )


class UserMemory:
    def __init__(self, store: BaseStore, *, min_score: float = 0.35, limit: int = 3) -> None:
        self.store = store
        self.min_score = min_score
        self.limit = limit

    async def remember(self, user: str, text: str) -> MemoryItem:
        text = _checked(text)
        for existing in await self.list(user):
            if existing.text.casefold() == text.casefold():
                return existing
        key = uuid.uuid4().hex[:12]
        await self.store.aput(_namespace(user), key, {"text": text})
        return await self.get(user, key)

    async def get(self, user: str, key: str) -> MemoryItem:
        raw = await self.store.aget(_namespace(user), key)
        if raw is None:
            raise InputError(
                f"user {user!r} has no memory {key!r}",
                hint="`daert memory list --user USER` shows the ids",
                code="memory_not_found",
            )
        return _item(raw)

    async def recall(self, user: str, query: str) -> list[MemoryItem]:
        found = await self.store.asearch(_namespace(user), query=query, limit=self.limit)
        return [_item(r) for r in found if (r.score or 0.0) >= self.min_score]

    async def list(self, user: str, limit: int = 100) -> list[MemoryItem]:
        found = await self.store.asearch(_namespace(user), limit=limit)
        return sorted((_item(r) for r in found), key=lambda m: m.updated_at)

    async def update(self, user: str, key: str, text: str) -> MemoryItem:
        await self.get(user, key)  # unknown id: a clear error, nothing written
        await self.store.aput(_namespace(user), key, {"text": _checked(text)})
        return await self.get(user, key)

    async def forget(self, user: str, key: str) -> None:
        await self.get(user, key)
        await self.store.adelete(_namespace(user), key)

    async def forget_all(self, user: str) -> int:
        items = await self.list(user, limit=10_000)
        for item in items:
            await self.store.adelete(_namespace(user), item.id)
        return len(items)
