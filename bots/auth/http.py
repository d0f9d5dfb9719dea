"""FastAPI glue: who a request acts for, and whether it is within its rate limit.

The server builds one dependency from its runtime and routes take the principal from it:

    current_user = principal_dependency(
        runtime.keys, runtime.rate_limiter,
        open_loopback=settings.open_loopback,
        legacy_key=settings.api_key.get_secret_value() if settings.api_key else None,
    )
    CurrentUser = Annotated[Principal, Depends(current_user)]

    @router.get("/threads")
    async def threads(user: CurrentUser) -> ...: ...

(or `dependencies=[Depends(current_user)]` on a router whose routes only need the check).

Credentials are `Authorization: Bearer <key>` or `x-api-key: <key>` (what langgraph-sdk
sends). Without any: a client on this machine is the admin user "local" while no key exists
and no DAERT_API_KEY is set (`open_loopback`), so `make run` works out of the box; once the
first key is created, everybody needs one. A request that came through a proxy (it carries
`Forwarded` or `X-Forwarded-For`) is never taken for a local one.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable

from fastapi import Request

from bots.auth.errors import RateLimited, Unauthorized
from bots.auth.keys import KeyStore, Principal
from bots.auth.ratelimit import RateLimiter
from bots.errors import Forbidden
from memory.longterm import check_user

LOCAL_USER = "local"
# An admin (the local user, an admin key) may act as another user: the CLI's `--user`.
ACT_AS = "x-daert-user"
LEGACY_KEY_ID = "legacy"
ACTIVE_CACHE_S = 5.0  # how long "does any key exist?" is remembered
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def credentials(request: Request) -> str | None:
    """The key a request carries, from `Authorization: Bearer` or `x-api-key`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


def is_local(request: Request) -> bool:
    """Whether the client is on this machine and talks to us directly (not through a proxy)."""
    if request.client is None or any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def principal_dependency(
    keys: Callable[[], Awaitable[KeyStore]],
    limiter: Callable[[], Awaitable[RateLimiter | None]],
    *,
    open_loopback: bool,
    legacy_key: str | None,
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the request's principal, or 401 `unauthorized` / 429
    `rate_limited`. `keys` and `limiter` are asked on each request (the runtime builds them
    once); a limiter of None means no limit."""
    legacy = legacy_key.encode() if legacy_key else None
    known_active: list[tuple[float, bool]] = []  # (when asked, answer): at most one entry

    async def any_active() -> bool:
        now = time.monotonic()
        if not known_active or now - known_active[0][0] > ACTIVE_CACHE_S:
            known_active[:] = [(now, await (await keys()).any_active())]
        return known_active[0][1]

    async def identify(request: Request) -> Principal:
        token = credentials(request)
        if token is not None:
            if legacy is not None and hmac.compare_digest(token.encode(), legacy):
                return Principal(LOCAL_USER, admin=True, key_id=LEGACY_KEY_ID)
            found = await (await keys()).authenticate(token)
            if found is None:
                raise Unauthorized("the API key is unknown or revoked")
            return found
        if open_loopback and legacy is None and is_local(request) and not await any_active():
            return Principal(LOCAL_USER, admin=True, key_id=None)
        raise Unauthorized("this API needs a key and the request sent none")

    async def principal(request: Request) -> Principal:
        who = await identify(request)
        # The limit is per key: the open loopback default (one person, this machine) has none.
        rate = await limiter() if who.key_id is not None else None
        if rate is not None:
            wait = await rate.hit(who.key_id or LOCAL_USER)
            if wait is not None:
                raise RateLimited(wait, limit=rate.per_minute)
        acting = request.headers.get(ACT_AS)
        if acting is None:
            return who
        if not who.admin:
            raise Forbidden(
                f"only an admin key may act as another user ({ACT_AS})",
                hint=f"leave {ACT_AS} out: a key acts as its own user",
                code="act_as_forbidden",
            )
        return Principal(check_user(acting), admin=False, key_id=who.key_id)

    return principal
