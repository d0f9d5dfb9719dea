"""Who an OpenAI client's request acts for: the server's keys, and a placeholder key allowed.

OpenAI clients always send a key (`api_key` is required), so on a server that is still open to
this machine (no key exists yet) they send a placeholder such as "unused". A request whose key
is refused and is not a daert key (`dk_...`) is asked again as if it carried none: it then acts
as the loopback user exactly when a request without any key would, and is refused otherwise
(with the first refusal). It never gets more than a request without a key gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from bots.auth.errors import Unauthorized
from bots.auth.http import credentials
from bots.auth.keys import Principal, parse_secret

CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


def placeholder_tolerant(
    principal: Callable[..., Awaitable[Principal]],
) -> Callable[[Request], Awaitable[Principal]]:
    async def tolerant(request: Request) -> Principal:
        try:
            return await principal(request)
        except Unauthorized as refused:
            token = credentials(request)
            if token is None or parse_secret(token) is not None:
                raise
            try:
                return await principal(without_credentials(request))
            except Unauthorized:
                raise refused from None

    return tolerant


def without_credentials(request: Request) -> Request:
    headers = [(k, v) for k, v in request.scope["headers"] if k not in CREDENTIAL_HEADERS]
    return Request({**request.scope, "headers": headers}, request.receive)
