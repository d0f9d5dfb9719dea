"""A run's token usage: what the model gateway recorded for it, or an estimate that says so.

The gateway records every model call (tokens as the provider counted them) in PostgreSQL with
its thread, user and time. A run's calls are those on its thread between the moment it
started and the moment it finished: runs of one thread never overlap (one active run per
thread), so that window holds this run's calls and no other's. Planner, summarizer and answer
calls all count, as they do on a bill.

When no call was recorded (a graph that calls no model through daert's gateway, an answer from
the semantic cache, usage recording down), the counts are estimated from the text with
`estimate_tokens` (words and punctuation; long words count more), as daert estimates history
budgets: the messages the answer saw, 4 tokens of framing each, and the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import psycopg

from core.errors import DaertError
from knowledge.ingest.chunking import estimate_tokens

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agents.gateway.usage import UsageStore
    from bots.runs.records import Run

log = logging.getLogger("daert.openai")
PER_MESSAGE = 4  # role and separators, as memory.context counts a message


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    source: Literal["recorded", "estimated"]

    def to_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def estimated(prompt: Sequence[str], answer: str) -> Usage:
    return Usage(
        prompt_tokens=sum(estimate_tokens(text) + PER_MESSAGE for text in prompt),
        completion_tokens=estimate_tokens(answer),
        source="estimated",
    )


async def run_usage(
    store: UsageStore | None, run: Run, prompt: Sequence[str], answer: str
) -> Usage:
    """Recorded usage of the run's model calls; else the estimate from `prompt` and `answer`."""
    if store is None or run.started_at is None or run.finished_at is None:
        return estimated(prompt, answer)
    try:
        rows = await store.summary(
            since=run.started_at, until=run.finished_at, thread_id=run.thread_id,
            user_id=run.user_id,
        )  # fmt: skip
    except (psycopg.Error, DaertError) as err:  # bookkeeping: never fails the answer
        log.warning("usage of run %s is estimated: %s", run.run_id, err)
        return estimated(prompt, answer)
    prompt_tokens = sum(r.prompt_tokens for r in rows)
    completion_tokens = sum(r.completion_tokens for r in rows)
    if prompt_tokens + completion_tokens == 0:
        return estimated(prompt, answer)
    return Usage(prompt_tokens, completion_tokens, "recorded")
