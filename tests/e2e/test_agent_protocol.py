"""The Agent-Protocol API driven by the official `langgraph-sdk` client, against a real
`daert serve` (and `daert worker`) on the embedded stack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.conftest import Stack
from tests.support.server import Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GRAPHS = json.dumps(
    {"trivial": "eval.bench.trivial_graph:graph", "slow": "tests.support.graphs:slow"}
)
ENV = {"DAERT_GRAPHS": GRAPHS, "DAERT_RATE_LIMIT_PER_MINUTE": "0"}


def plain(value: object) -> Any:
    """An SDK response as the JSON it is (its TypedDicts are narrower than the protocol)."""
    return value


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def server(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("ap-logs")
    with serve(stack.settings.data_dir, logs, "--concurrency", "4", env=ENV) as served:
        yield served


@pytest.fixture
async def client(server: Served) -> AsyncIterator[LangGraphClient]:
    yield get_client(url=server.base, api_key=None)


async def test_assistants_are_the_served_graphs_and_configurations_of_them(
    client: LangGraphClient,
) -> None:
    found = {a["graph_id"]: a for a in await client.assistants.search(limit=100)}
    assert {"daert", "trivial", "slow"} <= set(found)
    by_name = await client.assistants.get("trivial")
    assert by_name["assistant_id"] == found["trivial"]["assistant_id"]
    mine = await client.assistants.create("trivial", name="echo-config", metadata={"team": "x"})
    try:
        assert (await client.assistants.get(mine["assistant_id"]))["name"] == "echo-config"
        assert (await client.assistants.search(metadata={"team": "x"}))[0]["assistant_id"] == (
            mine["assistant_id"]
        )
        drawn = await client.assistants.get_graph(mine["assistant_id"])
        assert {n["id"] for n in drawn["nodes"]} >= {"echo"}
        out = await client.runs.wait(None, mine["assistant_id"], input=ask("via config"))
        assert isinstance(out, dict)
        assert out["messages"][-1]["content"] == "via config"
    finally:
        await client.assistants.delete(mine["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(mine["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get("no-such-graph")


async def test_threads_state_history_and_metadata(client: LangGraphClient) -> None:
    thread = await client.threads.create(metadata={"owner": "t1"})
    tid = thread["thread_id"]
    await client.runs.wait(tid, "trivial", input=ask("first"))
    await client.runs.wait(tid, "trivial", input=ask("second"))
    state = await client.threads.get_state(tid)
    contents = [m["content"] for m in plain(state)["values"]["messages"]]
    assert contents == ["first", "first", "second", "second"]
    history = await client.threads.get_history(tid, limit=50)
    assert len(history) >= 4  # a checkpoint per step (durability "async", the default)
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    await client.runs.wait(tid, "trivial", input=ask("third"), durability="exit")
    assert len(await client.threads.get_history(tid, limit=50)) == len(history) + 1
    await client.threads.update_state(tid, {"messages": [{"role": "user", "content": "edited"}]})
    edited = plain(await client.threads.get_state(tid))
    assert edited["values"]["messages"][-1]["content"] == "edited"
    await client.threads.update(tid, metadata={"label": "kept"})
    got = plain(await client.threads.get(tid))
    assert got["metadata"]["owner"] == "t1"
    assert got["metadata"]["label"] == "kept"
    assert got["status"] == "idle"
    found = await client.threads.search(metadata={"label": "kept"})
    assert [t["thread_id"] for t in found] == [tid]
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=tid)
    await client.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await client.threads.get(tid)


async def test_stream_modes_and_the_metadata_event_first(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = [
        p
        async for p in client.runs.stream(
            thread["thread_id"], "slow", input=ask("work 0.3"),
            stream_mode=["values", "updates", "custom"],
        )
    ]  # fmt: skip
    events = [p.event for p in parts]
    assert events[0] == "metadata"
    assert parts[0].data["run_id"]
    assert "updates" in events
    assert "values" in events
    assert [p.data["tick"] for p in parts if p.event == "custom"] == [0, 1, 2]
    assert parts[-1].event == "end"
    tuples = [
        p
        async for p in client.runs.stream(
            thread["thread_id"], "trivial", input=ask("tokens"), stream_mode="messages-tuple"
        )
    ]
    messages = [p for p in tuples if p.event == "messages"]
    assert messages
    assert messages[-1].data[0]["content"] == "tokens"


async def test_join_stream_resumes_after_last_event_id(
    client: LangGraphClient, server: Served
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "slow", input=ask("work 1.5"), stream_mode="custom")
    seen: list[tuple[str | None, Any]] = []
    async for part in client.runs.join_stream(tid, run["run_id"]):
        seen.append((part.id, part.data))
        if part.event == "custom" and part.data["tick"] == 4:
            break  # the client goes away mid-run
    last_id = seen[-1][0]
    assert last_id
    rest = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id=last_id)]
    ticks = [p.data["tick"] for p in rest if p.event == "custom"]
    assert ticks == list(range(5, 15))  # exactly where it stopped, nothing twice
    assert rest[-1].event == "end"
    # a second client joins the finished run from the start: the stream is kept
    again = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert [p.data["tick"] for p in again if p.event == "custom"] == list(range(15))
    # an SSE client that sends a bad Last-Event-ID gets a 400 with a code
    bad = httpx.get(
        f"{server.base}/threads/{tid}/runs/{run['run_id']}/stream",
        headers={"Last-Event-ID": "not-an-id"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_event_id"


async def test_double_texting_strategies(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input=ask("work 2"))
    with pytest.raises(ConflictError):
        await client.runs.create(tid, "slow", input=ask("work 0"), multitask_strategy="reject")
    queued = await client.runs.create(
        tid, "slow", input=ask("work 0.1"), multitask_strategy="enqueue"
    )
    await client.runs.join(tid, queued["run_id"])
    a = await client.runs.get(tid, first["run_id"])
    b = await client.runs.get(tid, queued["run_id"])
    assert (a["status"], b["status"]) == ("success", "success")
    assert a["updated_at"] <= b["updated_at"]

    slow_run = await client.runs.create(tid, "slow", input=ask("work 5"))
    await asyncio.sleep(0.5)
    interrupting = await client.runs.create(
        tid, "slow", input=ask("work 0"), multitask_strategy="interrupt"
    )
    await client.runs.join(tid, interrupting["run_id"])
    assert (await client.runs.get(tid, slow_run["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, interrupting["run_id"]))["status"] == "success"

    doomed = await client.runs.create(tid, "slow", input=ask("work 5"))
    await asyncio.sleep(0.5)
    winner = await client.runs.create(
        tid, "slow", input=ask("work 0.1"), multitask_strategy="rollback"
    )
    await client.runs.join(tid, winner["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, doomed["run_id"])
    contents = [
        m["content"] for m in plain(await client.threads.get_state(tid))["values"]["messages"]
    ]
    assert "work 5" in contents  # the interrupted run's question stays (it was interrupted)
    assert contents[-2:] == ["work 0.1", "worked 0.1s"]


async def test_cancel_and_run_list(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input=ask("work 10"))
    await asyncio.sleep(0.5)
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert plain(await client.runs.get(tid, run["run_id"]))["status"] == "cancelled"
    statuses = [r["status"] for r in await client.runs.list(tid)]
    assert statuses == ["cancelled"]
    # a cancelled run's stream ends (a joiner is not left hanging)
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert parts[-1].event == "end"


async def test_failed_wait_answers_an_error_body(client: LangGraphClient) -> None:
    with pytest.raises(Exception, match="ValueError: the slow graph was told to fail"):
        await client.runs.wait(None, "slow", input=ask("fail"))
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "slow", input=ask("fail"), raise_error=False)
    assert isinstance(out, dict)
    assert out["__error__"]["error"] == "run_failed"
    assert (await client.threads.get(tid))["status"] == "error"


async def test_crons_are_stored_validated_and_listed(client: LangGraphClient) -> None:
    cron = plain(
        await client.crons.create(
            "trivial", schedule="0 8 * * 1-5", input=ask("morning"), timezone="Europe/Madrid"
        )
    )
    try:
        assert cron["next_run_date"]
        found = await client.crons.search(assistant_id=cron["assistant_id"])
        assert cron["cron_id"] in [c["cron_id"] for c in found]
        changed = await client.crons.update(cron["cron_id"], schedule="30 9 * * *")
        assert changed["schedule"] == "30 9 * * *"
    finally:
        await client.crons.delete(cron["cron_id"])
    with pytest.raises(httpx.HTTPStatusError) as bad:
        await client.crons.create("trivial", schedule="every morning")
    assert bad.value.response.json()["error"]["code"] == "invalid_schedule"


async def test_store_items_and_namespaces(client: LangGraphClient) -> None:
    ns = ["notes", uuid.uuid4().hex[:8]]
    await client.store.put_item(ns, "k1", {"text": "alpha"})
    item = await client.store.get_item(ns, "k1")
    assert item is not None
    assert item["value"] == {"text": "alpha"}
    assert item["namespace"] == ns
    found = await client.store.search_items(["notes"])
    assert "k1" in [i["key"] for i in found["items"]]
    spaces = await client.store.list_namespaces(prefix=["notes"])
    assert ns in spaces["namespaces"]
    await client.store.delete_item(ns, "k1")
    with pytest.raises(NotFoundError):
        await client.store.get_item(ns, "k1")


def test_client_mistakes_get_4xx_with_codes(server: Served) -> None:
    base = server.base
    cases = [
        (httpx.get(f"{base}/threads/{uuid.uuid4()}"), 404, "thread_not_found"),
        (httpx.post(f"{base}/threads/search", content=b"{not json"), 422, "invalid_request"),
        (httpx.post(f"{base}/runs/wait", json={"input": {}}), 422, "invalid_request"),
        (httpx.post(f"{base}/runs/wait", json={"assistant_id": "nope"}), 404,
         "assistant_not_found"),
        (httpx.post(f"{base}/runs/wait", json={"assistant_id": "trivial",
                                                "stream_mode": "bogus"}), 400,
         "invalid_stream_mode"),
        (httpx.post(f"{base}/runs/wait", json={"assistant_id": "trivial",
                                                "multitask_strategy": "x"}), 400,
         "invalid_multitask_strategy"),
        (httpx.post(f"{base}/runs/wait", json={"assistant_id": "trivial",
                                                "webhook": "http://x"}), 400,
         "unsupported_option"),
        (httpx.get(f"{base}/threads/x/runs/{uuid.uuid4()}"), 404, "run_not_found"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


def test_openapi_documents_every_route_and_its_error_shape(server: Served) -> None:
    schema = httpx.get(f"{server.base}/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    for path in ("/threads/{thread_id}", "/threads/{thread_id}/runs/stream", "/runs/wait",
                 "/assistants/search", "/store/items", "/runs/crons"):  # fmt: skip
        operations = schema["paths"][path]
        for operation in operations.values():
            assert {"404", "422", "500"} <= set(operation["responses"]), (path, operation)
    assert httpx.get(f"{server.base}/docs").status_code == 200


async def test_runs_cli_lists_shows_and_cancels(client: LangGraphClient, stack: Stack) -> None:
    tid = (await client.threads.create())["thread_id"]
    done = await client.runs.create(tid, "trivial", input=ask("cli"))
    await client.runs.join(tid, done["run_id"])
    busy = await client.runs.create(tid, "slow", input=ask("work 20"))

    def daert(*args: str) -> str:
        finished = subprocess.run(
            [sys.executable, "-m", "daert", "--data-dir", str(stack.settings.data_dir), *args],
            capture_output=True, text=True, timeout=120, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("DAERT_")},
        )  # fmt: skip
        assert finished.returncode == 0, finished.stderr
        return finished.stdout

    listed = json.loads(daert("runs", "list", "--thread", tid, "--json"))
    assert [r["run_id"] for r in listed] == [busy["run_id"], done["run_id"]]
    shown = json.loads(daert("runs", "show", done["run_id"], "--json"))
    assert shown["status"] == "success"
    assert shown["user_id"] == "local"
    assert "cancelled" in daert("runs", "cancel", busy["run_id"])
    ended = [p async for p in client.runs.join_stream(tid, busy["run_id"])]
    assert ended[-1].event == "end"
    assert plain(await client.runs.get(tid, busy["run_id"]))["status"] == "cancelled"


async def test_a_stream_that_goes_away_cancels_its_run_when_asked(
    client: LangGraphClient,
) -> None:
    tid = (await client.threads.create())["thread_id"]
    run_id = ""
    async for part in client.runs.stream(
        tid, "slow", input=ask("work 20"), stream_mode="custom", on_disconnect="cancel"
    ):
        if part.event == "metadata":
            run_id = part.data["run_id"]
        if part.event == "custom":
            break  # the client goes away
    status = ""
    for _ in range(100):
        status = plain(await client.runs.get(tid, run_id))["status"]
        if status != "running":
            break
        await asyncio.sleep(0.1)
    assert status == "cancelled"
    kept = await client.runs.create(None, "trivial", input=ask("kept"), on_completion="keep")
    await client.runs.join(kept["thread_id"], kept["run_id"])
    state = plain(await client.threads.get_state(kept["thread_id"]))
    assert state["values"]["messages"][-1]["content"] == "kept"
