"""The run store and run streams on the real PostgreSQL and Redis: what two processes racing
on one thread see, and what a reconnecting reader gets."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from bots.runs.records import RunRequest, ThreadBusy, ThreadNotFound
from bots.runs.store import BUSY, RunStore
from bots.runs.streams import END, RunStreams
from memory.checkpoints import ThreadRegistry
from tests.conftest import Stack


@contextlib.asynccontextmanager
async def pool(url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(url, min_size=1, max_size=4, open=False,
                                   kwargs={"autocommit": True}) as opened:  # fmt: skip
        yield opened


@pytest.fixture
async def stores(stack: Stack) -> AsyncIterator[tuple[RunStore, RunStore, ThreadRegistry]]:
    """Two run stores on two pools: two server processes."""
    async with pool(stack.url("postgres")) as one, pool(stack.url("postgres")) as two:
        registry = ThreadRegistry(one)
        await registry.setup()
        first, second = RunStore(one), RunStore(two)
        await first.setup()
        yield first, second, registry


def request(strategy: str = "reject") -> RunRequest:
    return RunRequest(assistant_id="a", graph_id="g", input={"q": 1},
                      multitask_strategy=strategy)  # type: ignore[arg-type]  # fmt: skip


async def test_two_processes_starting_runs_on_one_thread_get_one_run(
    stores: tuple[RunStore, RunStore, ThreadRegistry],
) -> None:
    first, second, registry = stores
    thread = f"t-{uuid.uuid4().hex}"
    await registry.create(thread, "alice")
    results = await asyncio.gather(
        *(store.create(f"r{i}-{uuid.uuid4().hex}", thread, "alice", request())
          for i, store in enumerate([first, second] * 4)),
        return_exceptions=True,
    )  # fmt: skip
    started = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, ThreadBusy)]
    assert len(started) == 1
    assert len(refused) == 7


async def test_strategies_interrupt_and_queue_behind(
    stores: tuple[RunStore, RunStore, ThreadRegistry],
) -> None:
    first, second, registry = stores
    thread = f"t-{uuid.uuid4().hex}"
    await registry.create(thread, "alice")
    one, _, behind = await first.create(f"a-{uuid.uuid4().hex}", thread, "alice", request())
    assert not behind
    two, displaced, behind = await second.create(
        f"b-{uuid.uuid4().hex}", thread, "alice", request("enqueue")
    )
    assert behind
    assert displaced == []
    three, displaced, _ = await first.create(
        f"c-{uuid.uuid4().hex}", thread, "alice", request("interrupt")
    )
    assert {d.run_id for d in displaced} == {one.run_id, two.run_id}
    assert (await first.get(one.run_id)).status == "interrupted"
    assert (await first.get(three.run_id)).status == "pending"
    with pytest.raises(ThreadNotFound):  # another user's thread is not found, not refused
        await first.create(f"d-{uuid.uuid4().hex}", thread, "mallory", request())


async def test_one_run_of_a_thread_runs_at_a_time_whoever_claims(
    stores: tuple[RunStore, RunStore, ThreadRegistry],
) -> None:
    first, second, registry = stores
    thread = f"t-{uuid.uuid4().hex}"
    await registry.create(thread, "alice")
    a, _, _ = await first.create(f"a-{uuid.uuid4().hex}", thread, "alice", request())
    b, _, _ = await first.create(f"b-{uuid.uuid4().hex}", thread, "alice", request("enqueue"))
    claims = await asyncio.gather(first.claim(a.run_id), second.claim(b.run_id))
    assert sorted(type(c).__name__ for c in claims) == ["Busy", "Run"]  # never both
    winner = a if claims[0] is not BUSY else b
    loser = b if winner is a else a
    assert await first.finish(winner.run_id, "success", elapsed=0.1)
    claimed = await second.claim(loser.run_id)
    assert claimed is not None
    assert claimed is not BUSY
    assert await first.claim(loser.run_id) is None  # taken: nobody claims it twice


async def test_a_reader_resumes_after_the_last_id_it_saw(stack: Stack) -> None:
    redis = Redis.from_url(stack.url("redis"), decode_responses=True)
    streams = RunStreams(redis, prefix=f"test:{uuid.uuid4().hex}", retention=60)
    run_id = uuid.uuid4().hex
    try:
        writer = streams.writer(run_id, first=True)
        for i in range(5):
            writer.add("custom", {"i": i})
        await writer.flush()
        seen = []
        async for entry in streams.read(run_id, idle=0.2):
            if entry is None:
                break
            seen.append(entry)
        assert [e.data["i"] for e in seen] == [0, 1, 2, 3, 4]
        for i in range(5, 8):
            writer.add("custom", {"i": i})
        await writer.end("success", output={"done": True})
        rest = [e async for e in streams.read(run_id, seen[2].id, idle=0.2) if e is not None]
        assert [e.data.get("i") for e in rest[:-1]] == [3, 4, 5, 6, 7]
        assert rest[-1].event == END
        assert rest[-1].data["output"] == {"done": True}
        assert 0 < await redis.ttl(streams.key(run_id)) <= 60  # kept for the retention only
    finally:
        await redis.delete(streams.key(run_id))
        await redis.aclose()


async def test_an_older_waiting_run_goes_first(
    stores: tuple[RunStore, RunStore, ThreadRegistry],
) -> None:
    first, second, registry = stores
    thread = f"t-{uuid.uuid4().hex}"
    await registry.create(thread, "alice")
    older, _, _ = await first.create(f"a-{uuid.uuid4().hex}", thread, "alice", request())
    newer, _, _ = await first.create(f"b-{uuid.uuid4().hex}", thread, "alice", request("enqueue"))
    assert await second.claim(newer.run_id) is BUSY  # the older one has not started yet
    claimed = await first.claim(older.run_id)
    assert claimed is not None
    assert claimed is not BUSY
