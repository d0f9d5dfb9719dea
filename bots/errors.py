"""HTTP-shaped errors the surfaces share: each a `DaertError` with its status and a code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. `thread_not_found`.")
    message: str = Field(description="What went wrong, for a person.")
    hint: str = Field("", description="What to do about it.")


class ErrorBody(BaseModel):
    """The one shape of every error the API answers."""

    error: ErrorDetail


def _response(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every route (/docs): what each status means here.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _response("A request daert cannot act on (`code` says why)"),
    401: _response("Missing, unknown or revoked API key (`unauthorized`)"),
    403: _response("Not allowed for this key"),
    404: _response("Unknown id, or one that belongs to another user"),
    409: _response("Conflicts with the current state (a busy thread, an existing id)"),
    413: _response("Body over DAERT_MAX_BODY_BYTES (`payload_too_large`)"),
    422: _response("The body or parameters do not match the schema (`invalid_request`)"),
    429: _response("Over the key's rate limit (`rate_limited`; see Retry-After)"),
    500: _response("A bug: `internal_error` with a request id (details in the server log)"),
    503: _response("A dependency is down or misconfigured (`code` and `hint` say which)"),
}
