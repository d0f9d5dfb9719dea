"""HTTP-shaped errors the surfaces share: each a `DaertError` with its status and a code."""

from __future__ import annotations

from core.errors import DaertError


class NotFound(DaertError):
    code = "not_found"
    http_status = 404


class Conflict(DaertError):
    code = "conflict"
    http_status = 409


class Forbidden(DaertError):
    code = "forbidden"
    http_status = 403
