"""Health probes: one real round trip per dependency, with its version and latency.

Used by `daert doctor`, `daert status` and `GET /readyz`. A probe never raises: it returns a
`ComponentHealth` that says what is wrong and what to do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import psycopg
import redis
from neo4j.exceptions import DriverError as Neo4jDriverError
from neo4j.exceptions import Neo4jError as _Neo4jServerError

Neo4jError = (_Neo4jServerError, Neo4jDriverError)

Mode = Literal["embedded", "external", "disabled"]
PROBE_TIMEOUT = 3.0


@dataclass
class ComponentHealth:
    """What one probe found."""

    name: str
    title: str
    mode: Mode
    required: bool
    healthy: bool = False
    url: str | None = None
    version: str | None = None
    latency_ms: float | None = None
    details: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def mask_url(url: str | None) -> str | None:
    """The URL with its password replaced by ***, for logs, status output and /readyz."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Target:
    """A dependency to probe: where it is and how it is run."""

    name: str
    title: str
    mode: Mode
    required: bool
    url: str | None
    down_hint: str


def _timed(
    target: Target, check: Callable[[str], tuple[str | None, dict[str, str]]]
) -> ComponentHealth:
    result = ComponentHealth(
        name=target.name,
        title=target.title,
        mode=target.mode,
        required=target.required,
        url=mask_url(target.url),
    )
    if target.mode == "disabled":
        result.healthy = True
        result.details["note"] = "disabled by configuration"
        return result
    if target.url is None:
        result.error = "not running"
        result.hint = target.down_hint
        return result
    began = time.perf_counter()
    try:
        result.version, result.details = check(target.url)
        result.healthy = True
    except ProbeFailed as err:
        result.error, result.hint = str(err), err.hint or target.down_hint
    except (OSError, psycopg.Error, redis.RedisError, httpx.HTTPError, *Neo4jError) as err:
        result.error = f"{type(err).__name__}: {err}".strip()
        result.hint = target.down_hint
    except Exception as err:  # noqa: BLE001 - a probe reports, it never takes /readyz down
        result.error = f"unexpected answer ({type(err).__name__}: {err})"
        result.hint = "this server does not answer like the expected version; check it by hand"
    result.latency_ms = round((time.perf_counter() - began) * 1000, 1)
    return result


class ProbeFailed(Exception):
    """The dependency answered, but not as daert needs it to."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _check_postgres(url: str) -> tuple[str | None, dict[str, str]]:
    with psycopg.connect(url, connect_timeout=int(PROBE_TIMEOUT)) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    if row is None:
        raise ProbeFailed(
            "the pgvector extension is not installed in this database",
            hint="run `CREATE EXTENSION vector;` as a superuser (embedded PostgreSQL does it)",
        )
    return (str(version[0]) if version else None), {"pgvector": str(row[0])}


def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
    )


def _command(client: redis.Redis, *args: object) -> Any:
    """redis-py leaves execute_command untyped; this is the one typed door to it."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _check_redis(url: str) -> tuple[str | None, dict[str, str]]:
    client = _redis_client(url)
    try:
        info = client.info("server")
        version = str(info.get("redis_version", "?"))
        described = _command(client, "COMMAND", "INFO", "VADD")
        if isinstance(described, dict):  # redis-py parses the reply into {name: info}
            has_vadd = any(described.values())
        else:
            has_vadd = bool(described and described[0])
    finally:
        client.close()
    leading = re.match(r"\d+", version)
    major = int(leading.group(0)) if leading else 0
    if major < 8 or not has_vadd:
        raise ProbeFailed(
            f"Redis {version} has no vector sets (VADD); daert needs Redis >= 8",
            hint="upgrade Redis to 8.x, or unset DAERT_REDIS_URL to use the embedded one",
        )
    return version, {"vector_sets": "available"}


def _check_falkordb(url: str) -> tuple[str | None, dict[str, str]]:
    client = _redis_client(url)
    try:
        modules = _command(client, "MODULE", "LIST")
        graphs = _command(client, "GRAPH.LIST")
    except redis.ResponseError as err:
        raise ProbeFailed(
            f"the FalkorDB module is not loaded in this Redis ({err})",
            hint="load falkordb.so into that Redis, or unset DAERT_FALKORDB_URL/DAERT_REDIS_URL",
        ) from err
    finally:
        client.close()
    version = None
    for module in modules:
        if isinstance(module, dict):
            pairs = list(module.items())
        else:
            pairs = list(zip(module[::2], module[1::2], strict=False))
        entry = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in pairs}
        name = entry.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == "graph":
            raw = int(entry.get("ver", 0))
            version = f"{raw // 10000}.{raw // 100 % 100}.{raw % 100}"
    return version, {"graphs": str(len(graphs))}


def _check_model(url: str) -> tuple[str | None, dict[str, str]]:
    response = httpx.get(f"{url.rstrip('/')}/models", timeout=PROBE_TIMEOUT)
    if response.status_code != 200:
        raise ProbeFailed(
            f"GET {url}/models answered HTTP {response.status_code}",
            hint="check the model server's log and its API key",
        )
    ids = [str(m.get("id")) for m in response.json().get("data", [])]
    return None, {"models": ", ".join(ids) or "(none)"}


def _check_neo4j(url: str) -> tuple[str | None, dict[str, str]]:
    import neo4j  # noqa: PLC0415

    parts = urlsplit(url)
    bare = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port or 7687}"))
    auth = (unquote(parts.username or "neo4j"), unquote(parts.password or ""))
    with neo4j.GraphDatabase.driver(bare, auth=auth, connection_timeout=PROBE_TIMEOUT) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition "
            "RETURN versions[0] AS version, edition"
        )
    row = records[0]
    return str(row["version"]), {"edition": str(row["edition"])}


CHECKS: dict[str, Callable[[str], tuple[str | None, dict[str, str]]]] = {
    "neo4j": _check_neo4j,
    "postgres": _check_postgres,
    "redis": _check_redis,
    "falkordb": _check_falkordb,
    "model": _check_model,
}


def probe(target: Target) -> ComponentHealth:
    """Run the check registered for `target.name`."""
    return _timed(target, CHECKS[target.name])
