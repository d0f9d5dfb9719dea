"""A thread's messages read straight from its latest checkpoint: no graph, no model needed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from core.errors import InputError, require_match
from memory.context import message_text, role
from memory.longterm import check_user

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from memory.checkpoints import ThreadRegistry

THREAD_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class ThreadNotFound(InputError):
    code = "thread_not_found"
    http_status = 404


class ThreadForbidden(InputError):
    code = "thread_forbidden"
    http_status = 403


def check_thread_id(thread_id: str) -> str:
    return require_match(
        THREAD_ID, thread_id, what="thread id", code="invalid_thread_id",
        hint="thread ids are 1-128 letters, digits and . _ : @ -",
    )  # fmt: skip


async def check_owner(registry: ThreadRegistry | None, thread_id: str, user_id: str) -> None:
    """A thread another user started is refused (403), whoever asks for it by id."""
    if registry is None:
        return
    info = await registry.get(thread_id)
    if info is not None and info.user_id != user_id:
        raise ThreadForbidden(
            f"thread {thread_id!r} belongs to another user",
            hint="start a new thread, or use your own thread id",
        )


async def read_history(
    saver: BaseCheckpointSaver[Any],
    registry: ThreadRegistry | None,
    thread_id: str,
    user_id: str,
) -> list[dict[str, Any]]:
    """The messages of a thread, oldest first, with each answer's citations."""
    check_user(user_id)
    check_thread_id(thread_id)
    await check_owner(registry, thread_id, user_id)
    saved = await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    messages = saved.checkpoint["channel_values"].get("messages", []) if saved else []
    if not messages:
        raise ThreadNotFound(f"no thread {thread_id!r}", hint="`daert threads` lists your threads")
    return [
        {
            "role": role(m),
            "content": message_text(m),
            "citations": m.response_metadata.get("citations", []),
        }
        for m in messages
    ]
