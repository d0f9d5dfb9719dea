"""The Runtime: one pool and one Redis client for everything, built only when asked for, and
closed once. Checked on the real embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from daert.runtime import Runtime
from tests.conftest import Stack

pytestmark = pytest.mark.slow

# What a fresh process has loaded after a runtime gave it the thread list and a user's memories.
PROBE = """
import asyncio, json, sys
from daert.runtime import Runtime
from daert.settings import load_settings

async def main():
    async with Runtime(load_settings()) as runtime:
        await (await runtime.threads()).list(None)
        await (await runtime.memory()).list("probe")
        await (await runtime.cache()).stats()
    heavy = ("litellm", "sentence_transformers", "torch", "langgraph.graph", "crewai")
    print(json.dumps([m for m in heavy if m in sys.modules]))

asyncio.run(main())
"""


def test_reading_threads_memories_and_the_cache_loads_no_model(stack: Stack) -> None:
    env = {**os.environ, "DAERT_DATA_DIR": str(stack.settings.data_dir)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


async def test_every_store_shares_the_one_pool_and_the_one_redis_client(stack: Stack) -> None:
    runtime = Runtime(stack.settings)
    try:
        pool = await runtime.pool()
        assert (await runtime.threads()).pool is pool
        assert (await runtime.vector_store())._pool is pool
        assert (await runtime.blobs()).pool is pool
        usage = (await runtime.gateway()).usage
        assert usage is not None and getattr(usage, "target", None) is pool
        assert (await runtime.cache()).redis is await runtime.redis()
        assert await runtime.pool() is pool  # built once
    finally:
        await runtime.aclose()
    assert pool.closed
