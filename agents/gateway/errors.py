"""Typed model errors: what failed, whether a retry can help, and what to do about it."""

from __future__ import annotations

from core.errors import ConfigError, InputError, ServiceError


class ModelError(ServiceError):
    """A model call failed after the router's retries and fallbacks were used up."""

    code = "model_failed"
    retryable = False

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message, hint=hint, code=code)


class ModelUnavailable(ModelError):
    """Every deployment of the alias was unreachable or answered 5xx."""

    code = "model_unavailable"
    retryable = True


class ModelRateLimited(ModelError):
    """Every deployment answered 429."""

    code = "model_rate_limited"
    http_status = 429
    retryable = True


class ModelTimeout(ModelError):
    """No deployment answered within its timeout."""

    code = "model_timeout"
    http_status = 504
    retryable = True


class UnknownAlias(ConfigError):
    code = "model_alias_unknown"


class MissingModelKey(ConfigError):
    code = "model_key_missing"


class ContextTooLong(InputError):
    """The messages do not fit the model's context window."""

    code = "model_context_too_long"
    http_status = 413


class ModelRejected(InputError):
    """The model refused the request as malformed (HTTP 400 from the provider)."""

    code = "model_bad_request"


class StructuredOutputError(ModelError):
    """The model's answer was not valid for the schema, even after one repair attempt."""

    code = "model_output_invalid"
    http_status = 502
