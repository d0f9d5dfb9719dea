"""Fail fast, with the fix, when PostgreSQL does not answer: seconds, not a 90 s pool timeout.

Every connection the composition root hands out carries a connect timeout (a
`connect_timeout` already in DAERT_POSTGRES_URL wins), and `check_postgres` makes one
connection before any pool is opened, so a server that is down is named at once.
"""

from __future__ import annotations

from psycopg import AsyncConnection, OperationalError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.errors import ServiceError
from daert.health import mask_url
from daert.settings import Settings

CONNECT_TIMEOUT = 5  # seconds


def with_connect_timeout(url: str, seconds: int = CONNECT_TIMEOUT) -> str:
    """The conninfo of `url` with a connect timeout, unless it names its own."""
    params = conninfo_to_dict(url)
    if "connect_timeout" in params:
        return url
    return make_conninfo(url, connect_timeout=seconds)


def postgres_hint(settings: Settings) -> str:
    if settings.postgres_url is not None:
        return (
            "check that the PostgreSQL at DAERT_POSTGRES_URL is up and reachable (`daert "
            "doctor` checks it), or unset DAERT_POSTGRES_URL to use the embedded one"
        )
    return "run `daert up` (or `daert doctor` to see why the embedded PostgreSQL is down)"


def postgres_unreachable(settings: Settings, url: str, error: Exception) -> ServiceError:
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return ServiceError(
        f"PostgreSQL at {mask_url(url)} does not answer: {reason}",
        hint=postgres_hint(settings),
        code="postgres_unreachable",
    )


async def check_postgres(settings: Settings, url: str) -> None:
    """One connection within the connect timeout, else a ServiceError that says what to do."""
    try:
        connection = await AsyncConnection.connect(with_connect_timeout(url))
    except OperationalError as error:
        raise postgres_unreachable(settings, url, error) from None
    await connection.close()
