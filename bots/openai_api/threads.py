"""Which thread a chat completion runs on: the caller's thread it names, or a new one.

OpenAI clients send the whole conversation each time; daert keeps it in a thread. A request
that names a thread (`X-Daert-Thread-Id`, or `metadata.thread_id`) continues it: the thread's
own history stands and only the last user message is asked. A request that names none gets a
new thread, seeded with the request's earlier messages so the assistant sees the
conversation. A named thread that does not exist yet is created the same way (clients may
choose their own conversation ids); one that belongs to another user is "not found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bots.errors import Conflict
from bots.runs.records import ThreadNotFound
from bots.runs.served import BUILTIN, thread_config
from bots.runs.service import new_id
from core.errors import InputError
from graphs.assistant.history import check_thread_id

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from bots.agent_protocol.assistants import AssistantRecord
    from bots.agent_protocol.services import Services

THREAD_HEADER = "X-Daert-Thread-Id"


def wanted_thread(header: str | None, metadata: dict[str, Any] | None) -> str | None:
    """The thread id a request names, by header or metadata (both: they must agree)."""
    named = (metadata or {}).get("thread_id")
    if named is not None and not isinstance(named, str):
        raise InputError(
            "metadata.thread_id is not a string",
            hint=f"send the thread id as a string, or in the {THREAD_HEADER} header",
            code="invalid_thread_id",
        )
    if header and named and header != named:
        raise InputError(
            f"the {THREAD_HEADER} header and metadata.thread_id name different threads",
            hint="send the thread id once",
            code="thread_id_conflict",
        )
    wanted = header or named
    return check_thread_id(wanted) if wanted else None


async def open_thread(
    services: Services,
    user_id: str,
    assistant: AssistantRecord,
    wanted: str | None,
    earlier: list[BaseMessage],
) -> str:
    """The thread's id; a thread created now holds `earlier`."""
    thread_id = wanted or new_id()
    metadata = {"graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id,
                "surface": "openai"}  # fmt: skip
    if await services.threads.create(thread_id, user_id, metadata) is None:
        info = await services.threads.get(thread_id)
        if info is None or info.user_id != user_id:  # another user's: the same as none
            raise ThreadNotFound(thread_id)
        graph_id = str(info.metadata.get("graph_id") or BUILTIN)
        if graph_id != assistant.graph_id:
            raise Conflict(
                f"thread {thread_id!r} is a conversation with {graph_id!r}, not "
                f"{assistant.graph_id!r}",
                hint=f"continue it with model {graph_id!r}, or start a new thread",
                code="thread_graph_mismatch",
            )
        return thread_id
    if earlier:
        try:
            served = await services.graph(assistant.graph_id)
            await served.graph.aupdate_state(
                thread_config(thread_id, user_id), {"messages": earlier}
            )
        except BaseException:
            await services.runs.delete_thread(thread_id)
            raise
    return thread_id
