"""The running summary: older turns folded into a few sentences by the summarizer alias."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.messages import AnyMessage

from memory.context import message_text, role

if TYPE_CHECKING:
    from agents.gateway import ModelGateway

SUMMARY_PROMPT = """Update the running summary of a conversation between a user and an assistant.
Keep facts about the user, decisions, open questions and names; drop small talk.
Write at most {words} words.

Summary so far:
{summary}

New turns:
{turns}"""


def transcript(messages: Sequence[AnyMessage], max_chars: int = 8000) -> str:
    lines = [f"{role(m)}: {message_text(m)}" for m in messages]
    text = "\n".join(lines)
    return text[-max_chars:]


def fallback_summary(summary: str, messages: Sequence[AnyMessage], max_chars: int = 1200) -> str:
    """Without a model: the old summary plus the first line of each new user turn, capped."""
    firsts = [message_text(m).strip().splitlines()[0][:160] for m in messages
              if role(m) == "user" and message_text(m).strip()]  # fmt: skip
    merged = "\n".join(filter(None, [summary, *(f"- user asked: {f}" for f in firsts)]))
    return merged[-max_chars:]


async def summarize(
    gateway: ModelGateway,
    alias: str,
    summary: str,
    messages: Sequence[AnyMessage],
    *,
    words: int = 150,
    thread_id: str | None = None,
) -> str:
    prompt = SUMMARY_PROMPT.format(
        words=words, summary=summary or "(none)", turns=transcript(messages)
    )
    done = await gateway.complete(
        alias, [{"role": "user", "content": prompt}],
        max_tokens=words * 2, temperature=0, thread_id=thread_id,
    )  # fmt: skip
    text = done.text.strip()
    return text or fallback_summary(summary, messages)
