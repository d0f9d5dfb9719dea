"""Keys bound to users, over the real server: each user sees only their own threads, runs and
store items; everyone else gets 404, as if the id did not exist."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError
from psycopg_pool import AsyncConnectionPool

from bots.auth.keys import KeyStore
from tests.conftest import Stack
from tests.e2e.test_agent_protocol import ENV, ask
from tests.support.server import Served, serve

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(stack.settings.data_dir, tmp_path_factory.mktemp("users"), env=ENV) as served:
        yield served


@pytest.fixture
async def keys(stack: Stack) -> AsyncIterator[dict[str, str]]:
    """Two users' keys, revoked afterwards (other modules expect no key to exist)."""
    async with AsyncConnectionPool(stack.url("postgres"), min_size=1, max_size=2,
                                   kwargs={"autocommit": True}, open=False) as pool:  # fmt: skip
        store = KeyStore(pool)
        await store.setup()
        suffix = uuid.uuid4().hex[:6]
        alice_info, alice = await store.create(f"alice-{suffix}")
        bob_info, bob = await store.create(f"bob-{suffix}")
        try:
            yield {"alice": alice, "bob": bob}
        finally:
            await store.revoke(alice_info.key_id)
            await store.revoke(bob_info.key_id)


async def test_another_users_things_are_not_found(server: Served, keys: dict[str, str]) -> None:
    alice = get_client(url=server.base, api_key=keys["alice"])
    bob = get_client(url=server.base, api_key=keys["bob"])
    thread = await alice.threads.create(metadata={"secret": "yes"})
    tid = thread["thread_id"]
    run = await alice.runs.create(tid, "trivial", input=ask("private"))
    await alice.runs.join(tid, run["run_id"])
    await alice.store.put_item(["memories"], "fact", {"text": "alice likes tea"})

    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: bob.threads.get(tid),
        lambda: bob.threads.get_state(tid),
        lambda: bob.runs.get(tid, run["run_id"]),
        lambda: bob.runs.join(tid, run["run_id"]),
        lambda: bob.runs.create(tid, "trivial", input=ask("mine now")),
        lambda: bob.threads.delete(tid),
        lambda: bob.store.get_item(["memories"], "fact"),
    ]
    for attempt in attempts:
        with pytest.raises((NotFoundError, httpx.HTTPStatusError)) as refused:
            await attempt()
        assert refused.value.response.status_code == 404
    assert tid not in [t["thread_id"] for t in await bob.threads.search(limit=100)]
    assert (await bob.store.search_items(["memories"]))["items"] == []
    # alice still has all of it
    mine: Any = await alice.threads.get(tid)
    assert mine["metadata"]["secret"] == "yes"
    item = await alice.store.get_item(["memories"], "fact")
    assert item is not None
    assert item["value"]["text"] == "alice likes tea"


async def test_without_a_key_or_acting_as_another_user(
    server: Served, keys: dict[str, str]
) -> None:
    anonymous = httpx.get(f"{server.base}/threads/{uuid.uuid4()}")
    assert anonymous.status_code in (401, 404)  # 404 only while the server's 5 s view is old
    refused = httpx.post(
        f"{server.base}/threads/search",
        json={},
        headers={"Authorization": f"Bearer {keys['bob']}", "X-Daert-User": "alice"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "act_as_forbidden"
    wrong = httpx.post(f"{server.base}/threads/search", json={},
                       headers={"Authorization": "Bearer dk_00000000_" + "x" * 43})  # fmt: skip
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_code_sessions_belong_to_their_user(server: Served, keys: dict[str, str]) -> None:
    def run(who: str, code: str) -> dict[str, Any]:
        response = httpx.post(
            f"{server.base}/v1/code/sessions/shared/execute",
            json={"code": code},
            headers={"Authorization": f"Bearer {keys[who]}"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert run("alice", "secret = 42")["error"] is None
    assert "NameError" in str(run("bob", "print(secret)")["error"])  # same name, own session
    assert "42" in run("alice", "print(secret)")["stdout"]


def test_cors_is_off_unless_configured(server: Served) -> None:
    preflight = httpx.options(
        f"{server.base}/threads/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
