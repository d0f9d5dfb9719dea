"""The errors daert shows people: each has a machine-readable code and a hint saying what to do.

Three kinds are kept apart: `ConfigError` (the operator set something wrong; fix the setting),
`ServiceError` (a dependency failed to start or answer; maybe retry) and `InputError` (a client
sent a bad request; a 4xx at the HTTP edge).
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class DaertError(Exception):
    """Base class: `code` is stable and machine-readable, `hint` tells the reader what to do."""

    code: str = "daert_error"
    exit_code: int = 1
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        # Sent with the HTTP answer (`WWW-Authenticate` on a 401, `Retry-After` on a 429).
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        """The JSON body used by the HTTP API and `--json` CLI output."""
        return {"code": self.code, "message": self.message, "hint": self.hint}


class ConfigError(DaertError):
    """The operator's configuration is wrong: the message names the setting and the fix.

    Over HTTP it is a 503: the server cannot serve this until its operator fixes it.
    """

    code = "config_invalid"
    exit_code = 2
    http_status = 503


class ServiceError(DaertError):
    """An embedded or external service could not be started, reached or trusted."""

    code = "service_unavailable"
    exit_code = 1
    http_status = 503


class InputError(DaertError):
    """A client sent a request daert cannot act on."""

    code = "bad_request"
    exit_code = 2
    http_status = 400


def require_match(pattern: re.Pattern[str], value: str, *, what: str, hint: str, code: str) -> str:
    """`value` if `pattern` matches all of it; else an InputError naming what was wrong and the fix.

    `fullmatch`, not `match`: with `match`, a `$` anchor also accepts a trailing newline.
    """
    if not pattern.fullmatch(value):
        raise InputError(f"invalid {what} {value[:64]!r}", hint=hint, code=code)
    return value
