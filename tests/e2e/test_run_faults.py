"""Runs survive the death of the process working them or streaming them: a real `daert
worker` killed with SIGKILL mid-run, a real `daert serve` killed mid-stream.

Its own module, so that no other server's worker is around to take the run first.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from tests.conftest import Stack
from tests.e2e.test_agent_protocol import ENV, ask
from tests.support.server import serve, stop, worker

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


async def test_a_worker_killed_mid_run_is_replaced_and_the_run_retried(
    stack: Stack, tmp_path: Path
) -> None:
    """Runs only on `daert worker`s: kill -9 the one working the run; the other one retries
    it (after the heartbeat goes stale) and the events sent before the kill are kept."""
    with (
        serve(stack.settings.data_dir, tmp_path, "--no-worker", env=ENV) as api,
        worker(stack.settings.data_dir, tmp_path, env=ENV) as first,
    ):
        client = get_client(url=api.base)
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "slow", input=ask("work 3"), stream_mode="custom")
        seen = []
        async for part in client.runs.join_stream(tid, run["run_id"]):
            seen.append(part)
            if part.event == "custom" and part.data["tick"] == 3:
                break
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        with worker(stack.settings.data_dir, tmp_path, env=ENV):
            done = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), 120)
        assert isinstance(done, dict)
        assert done["messages"][-1]["content"] == "worked 3s"
        final: dict[str, object] = dict(await client.runs.get(tid, run["run_id"]))
        assert final["status"] == "success"
        assert final["attempt"] == 2
        # the budget counts time spent running, not the ~20 s the dead worker was silent
        assert isinstance(final["elapsed"], float)
        assert 3.0 <= final["elapsed"] < 12.0
        parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
        metas = [p.data for p in parts if p.event == "metadata"]
        assert [m["attempt"] for m in metas] == [1, 2]
        ticks = [p.data["tick"] for p in parts if p.event == "custom"]
        assert ticks[:4] == [0, 1, 2, 3]  # the first attempt's events are kept
        assert ticks[-1] == 29


async def test_a_stream_resumes_on_another_server_after_kill_9(
    stack: Stack, tmp_path: Path
) -> None:
    with (
        serve(stack.settings.data_dir, tmp_path, env=ENV) as one,
        serve(stack.settings.data_dir, tmp_path, "--no-worker", env=ENV) as two,
    ):
        c1, c2 = get_client(url=one.base), get_client(url=two.base)
        tid = (await c2.threads.create())["thread_id"]
        run = await c2.runs.create(tid, "slow", input=ask("work 2"), stream_mode="custom")
        last = None
        async for part in c2.runs.join_stream(tid, run["run_id"]):
            last = part.id
            if part.event == "custom" and part.data["tick"] == 5:
                break
        stop(two.proc, signal.SIGKILL)  # the API process the client streamed from dies
        rest = [p async for p in c1.runs.join_stream(tid, run["run_id"], last_event_id=last)]
        assert [p.data["tick"] for p in rest if p.event == "custom"] == list(range(6, 20))
        assert rest[-1].event == "end"
