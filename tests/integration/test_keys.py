"""API keys on the real embedded PostgreSQL, the rate limit on the real Redis, and the FastAPI
dependency that puts both in front of a route.

Each test gets a database of its own on the embedded server: whether *any* key exists decides
who gets in without one, so keys other tests create must not leak in.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from fastapi import APIRouter, Depends, FastAPI
from psycopg.conninfo import make_conninfo
from redis.asyncio import Redis

from bots.auth.http import principal_dependency
from bots.auth.keys import KeyStore, Principal
from bots.auth.ratelimit import RateLimiter
from core.errors import InputError
from daert.app import create_app
from daert.pool import open_pool
from memory.semantic_cache.redis import redis_client
from tests.conftest import Stack

pytestmark = pytest.mark.slow

TEST_REDIS_DB = 9  # not the one the server's caches and limits use


@pytest.fixture
async def keys(stack: Stack) -> AsyncIterator[KeyStore]:
    """A KeyStore over its own, fresh database on the embedded PostgreSQL."""
    url = stack.url("postgres")
    name = f"keys_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        async with contextlib.AsyncExitStack() as exits:
            store = KeyStore(
                await open_pool(exits, stack.settings, make_conninfo(url, dbname=name))
            )
            await store.setup()
            yield store
    finally:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def redis_db_url(stack: Stack) -> str:
    parts = urlsplit(stack.url("redis"))
    return urlunsplit(parts._replace(path=f"/{TEST_REDIS_DB}"))


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    client = redis_client(redis_db_url(stack))
    yield client
    await client.aclose()


async def last_used(keys: KeyStore, key_id: str) -> Any:
    (info,) = [i for i in await keys.list() if i.key_id == key_id]
    return info.last_used_at


# --- the store -------------------------------------------------------------------------------


async def test_create_authenticate_list_and_revoke(keys: KeyStore) -> None:
    assert await keys.any_active() is False
    info, secret = await keys.create("alice@example.com", name="laptop")
    assert (info.user_id, info.admin, info.name, info.revoked_at) == (
        "alice@example.com", False, "laptop", None,
    )  # fmt: skip
    assert secret.startswith(f"dk_{info.key_id}_")
    assert await keys.any_active() is True

    assert await keys.authenticate(secret) == Principal("alice@example.com", False, info.key_id)
    (listed,) = await keys.list("alice@example.com")
    assert listed.key_id == info.key_id and listed.last_used_at is not None
    assert secret not in repr(listed)

    assert await keys.revoke(info.key_id) is True
    assert await keys.authenticate(secret) is None
    assert await keys.revoke(info.key_id) is False  # already revoked
    assert await keys.revoke("0badc0de") is False  # never existed
    (listed,) = await keys.list()
    assert listed.revoked_at is not None and not listed.active
    assert await keys.any_active() is False


async def test_each_key_maps_to_its_own_user(keys: KeyStore) -> None:
    alice, alice_secret = await keys.create("alice")
    bob, bob_secret = await keys.create("bob", admin=True, name="ops")
    assert await keys.authenticate(alice_secret) == Principal("alice", False, alice.key_id)
    assert await keys.authenticate(bob_secret) == Principal("bob", True, bob.key_id)
    assert [i.key_id for i in await keys.list("bob")] == [bob.key_id]
    assert {i.key_id for i in await keys.list()} == {alice.key_id, bob.key_id}

    await keys.revoke(alice.key_id)  # one user's key revoked: the other's still works
    assert await keys.authenticate(alice_secret) is None
    assert await keys.authenticate(bob_secret) == Principal("bob", True, bob.key_id)


async def test_only_the_exact_secret_authenticates(keys: KeyStore) -> None:
    alice, alice_secret = await keys.create("alice")
    _, bob_secret = await keys.create("bob")
    last = alice_secret[-1]
    tampered = alice_secret[:-1] + ("B" if last == "A" else "A")  # right key id, wrong secret
    borrowed = f"dk_{alice.key_id}_{bob_secret[12:]}"  # alice's id with bob's random part
    for wrong in (tampered, borrowed, alice_secret.upper(), alice_secret[:-1], "", "dk_x"):
        assert await keys.authenticate(wrong) is None, wrong
    assert await keys.authenticate(alice_secret) is not None


async def test_last_use_is_written_at_most_once_a_minute(keys: KeyStore) -> None:
    info, secret = await keys.create("carol")
    assert await last_used(keys, info.key_id) is None
    await keys.authenticate(secret)
    first = await last_used(keys, info.key_id)
    assert first is not None
    await keys.authenticate(secret)
    assert await last_used(keys, info.key_id) == first  # within the minute: not rewritten

    async with keys.pool.connection() as conn:
        await conn.execute(
            "UPDATE daert_api_keys SET last_used_at = now() - interval '2 minutes' "
            "WHERE key_id = %s",
            (info.key_id,),
        )
    stale = await last_used(keys, info.key_id)
    await keys.authenticate(secret)
    assert await last_used(keys, info.key_id) > stale


async def test_bad_user_ids_and_names_are_refused(keys: KeyStore) -> None:
    for user, name, code in [("", "x", "invalid_user_id"), ("a\nb", "x", "invalid_user_id"),
                             ("dave", "two\nlines", "invalid_key_name"),
                             ("dave", "n" * 121, "invalid_key_name")]:  # fmt: skip
        with pytest.raises(InputError) as caught:
            await keys.create(user, name=name)
        assert caught.value.code == code
    assert await keys.list() == []


# --- the rate limit ----------------------------------------------------------------------------


async def test_two_clients_share_one_limit(stack: Stack, redis: Redis) -> None:
    other = Redis.from_url(redis_db_url(stack))  # another process's client (bytes replies)
    try:
        bucket = f"test-{uuid.uuid4().hex}"
        one, two = RateLimiter(redis, per_minute=3), RateLimiter(other, per_minute=3)
        assert [await one.hit(bucket), await two.hit(bucket), await one.hit(bucket)] == [None] * 3
        wait = await two.hit(bucket)
        assert wait is not None and 0 < wait <= 60
        again = await one.hit(bucket)
        assert again is not None and 0 < again <= wait  # refused hits do not extend the wait
        assert await two.hit(f"test-{uuid.uuid4().hex}") is None  # another key: its own limit
        assert await redis.ttl(f"daert:ratelimit:{bucket}") > 0  # nothing is kept forever
    finally:
        await other.aclose()


async def test_a_limit_of_zero_is_off(redis: Redis) -> None:
    limiter = RateLimiter(redis, per_minute=0)
    bucket = f"test-{uuid.uuid4().hex}"
    assert [await limiter.hit(bucket) for _ in range(20)] == [None] * 20
    assert await redis.exists(f"daert:ratelimit:{bucket}") == 0


# --- the FastAPI dependency ----------------------------------------------------------------------


def app_with(
    keys: KeyStore,
    limiter: RateLimiter | None = None,
    *,
    open_loopback: bool = True,
    legacy_key: str | None = None,
) -> FastAPI:
    async def get_keys() -> KeyStore:
        return keys

    async def get_limiter() -> RateLimiter | None:
        return limiter

    current = principal_dependency(
        get_keys, get_limiter, open_loopback=open_loopback, legacy_key=legacy_key
    )
    router = APIRouter()

    @router.get("/me")
    async def me(who: Principal = Depends(current)) -> dict[str, Any]:  # noqa: B008
        # (not `Annotated[...]`: postponed annotations cannot name the local `current`)
        return {"user_id": who.user_id, "admin": who.admin, "key_id": who.key_id}

    return create_app(lambda: [], routers=[router])


def client(app: FastAPI, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://daert.test")


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "daert keys create --user NAME" in error["hint"]


async def test_loopback_is_open_only_while_no_key_exists(keys: KeyStore) -> None:
    local = {"user_id": "local", "admin": True, "key_id": None}
    async with client(app_with(keys)) as http:
        response = await http.get("/me")
        assert response.status_code == 200 and response.json() == local
        assert_unauthorized(await http.get("/me", headers={"X-Forwarded-For": "203.0.113.7"}))
    async with client(app_with(keys), host="203.0.113.7") as http:
        assert_unauthorized(await http.get("/me"))
    async with client(app_with(keys, open_loopback=False)) as http:
        assert_unauthorized(await http.get("/me"))

    info, secret = await keys.create("alice")
    async with client(app_with(keys)) as http:  # a fresh server: nothing cached
        assert_unauthorized(await http.get("/me"))
        for headers in ({"Authorization": f"Bearer {secret}"}, {"x-api-key": secret}):
            response = await http.get("/me", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == {"user_id": "alice", "admin": False, "key_id": info.key_id}
        assert_unauthorized(await http.get("/me", headers={"Authorization": f"Bearer {secret}x"}))
        await keys.revoke(info.key_id)
        assert_unauthorized(await http.get("/me", headers={"Authorization": f"Bearer {secret}"}))
        assert (await http.get("/healthz")).status_code == 200  # health needs no key


async def test_the_legacy_api_key_is_the_local_admin_and_closes_loopback(keys: KeyStore) -> None:
    async with client(app_with(keys, legacy_key="s3cret-legacy-key")) as http:
        response = await http.get("/me", headers={"Authorization": "Bearer s3cret-legacy-key"})
        assert response.json() == {"user_id": "local", "admin": True, "key_id": "legacy"}
        assert_unauthorized(await http.get("/me"))  # no key exists, but DAERT_API_KEY is set
        assert_unauthorized(await http.get("/me", headers={"Authorization": "Bearer s3cret"}))


async def test_over_the_limit_is_429_with_retry_after(keys: KeyStore, redis: Redis) -> None:
    _, alice = await keys.create("alice")
    _, bob = await keys.create("bob")
    limiter = RateLimiter(redis, per_minute=2)
    async with client(app_with(keys, limiter)) as http:

        async def as_(secret: str) -> httpx.Response:
            return await http.get("/me", headers={"Authorization": f"Bearer {secret}"})

        assert [(await as_(alice)).status_code for _ in range(2)] == [200, 200]
        refused = await as_(alice)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await as_(bob)).status_code == 200  # the limit is per key
