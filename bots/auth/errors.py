"""The two ways a request is turned away before it reaches a route: no valid key, too many calls."""

from __future__ import annotations

import math

from core.errors import InputError

KEY_HINT = (
    "send `Authorization: Bearer <key>` (or `x-api-key: <key>`); an operator creates a key "
    "with `daert keys create --user NAME`"
)


class Unauthorized(InputError):
    """No credentials, or ones that match no active key (401, `WWW-Authenticate: Bearer`)."""

    code = "unauthorized"
    http_status = 401

    def __init__(self, message: str, *, hint: str = KEY_HINT) -> None:
        super().__init__(message, hint=hint, headers={"WWW-Authenticate": "Bearer"})


class RateLimited(InputError):
    """More requests than DAERT_RATE_LIMIT_PER_MINUTE (429, `Retry-After` in whole seconds)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after: float, *, limit: int) -> None:
        self.retry_after = retry_after
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many requests: this key may make {limit} per minute",
            hint=f"retry in {seconds} s; the operator sets DAERT_RATE_LIMIT_PER_MINUTE",
            headers={"Retry-After": str(seconds)},
        )
