"""The assistant and the parts tests reach into, opened through the real `Runtime`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daert.runtime import Runtime
from daert.services.plan import Endpoints
from daert.settings import Settings

if TYPE_CHECKING:
    from graphs.assistant.assistant import Assistant
    from memory.checkpoints import Retention
    from memory.longterm import UserMemory
    from memory.semantic_cache.redis import RedisSemanticCache


@dataclass
class AssistantRuntime:
    runtime: Runtime
    assistant: Assistant
    memory: UserMemory | None
    retention: Retention
    cache: RedisSemanticCache | None


@contextlib.asynccontextmanager
async def open_assistant(
    settings: Settings, urls: Endpoints | None = None
) -> AsyncIterator[AssistantRuntime]:
    async with Runtime(settings, urls=urls) as runtime:
        assistant = await runtime.assistant()
        memory = await runtime.memory() if settings.memory_enabled else None
        cache = await runtime.cache() if settings.cache_enabled else None
        yield AssistantRuntime(runtime, assistant, memory, await runtime.retention(), cache)
