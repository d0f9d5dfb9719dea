"""Health probes: one real round trip per dependency, with its version and latency.

Used by `daert doctor` and `GET /readyz`. A probe never raises: it returns a `ComponentHealth`
that says what is wrong and what to do. The model's probe proves the model can generate (a
one-token chat completion), not only that its server lists models; `/readyz` keeps that answer
for a few seconds (`ProbeCache`) so that polling it does not keep the model busy.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from daert.services.state import Supervision

if TYPE_CHECKING:  # the clients load when a probe runs, not when the CLI starts
    import redis

Mode = Literal["embedded", "external", "disabled"]
PROBE_TIMEOUT = 3.0
GENERATE_TIMEOUT = 15.0
"""A one-token completion waits behind a request the model is already serving (llama.cpp's
server runs one at a time), so it gets longer than a plain round trip."""
MODEL_PROBE_TTL = 15.0


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
    model: str | None = None
    """For the model: the name to generate with (default: the first one the server lists)."""


Check = Callable[[str], tuple[str | None, dict[str, str]]]


def _timed(target: Target, check: Check) -> ComponentHealth:
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
    except Exception as err:  # noqa: BLE001 - a probe reports, it never takes /readyz down
        if not isinstance(err, _connection_errors()):
            result.error = f"unexpected answer ({type(err).__name__}: {err})"
            result.hint = "this server does not answer like the expected version; check it by hand"
            result.latency_ms = round((time.perf_counter() - began) * 1000, 1)
            return result
        result.error = f"{type(err).__name__}: {err}".strip()
        result.hint = target.down_hint
    result.latency_ms = round((time.perf_counter() - began) * 1000, 1)
    return result


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a dependency that is down or unreachable raises, from the clients loaded so far
    (a probe imports its client before it can raise one of its errors)."""
    errors: list[type[BaseException]] = [OSError]
    for module, names in (
        ("psycopg", ("Error",)), ("redis", ("RedisError",)), ("httpx", ("HTTPError",)),
        ("neo4j.exceptions", ("Neo4jError", "DriverError")),
    ):  # fmt: skip
        loaded = sys.modules.get(module)
        errors += [getattr(loaded, name) for name in names if loaded is not None]
    return tuple(errors)


class ProbeFailed(Exception):
    """The dependency answered, but not as daert needs it to."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _check_postgres(url: str) -> tuple[str | None, dict[str, str]]:
    import psycopg  # noqa: PLC0415

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
    import redis  # noqa: PLC0415

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
    import redis  # noqa: PLC0415

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


@dataclass(frozen=True)
class Generation:
    """What a one-token completion showed: `error` is None when the model generated."""

    at: float
    summary: str = ""
    error: str | None = None
    hint: str = ""


class ProbeCache:
    """Keeps each costly check's outcome for `ttl` seconds; concurrent askers share one check.

    Owned by whoever polls (the app behind /readyz); `daert doctor` uses none and always checks.
    """

    def __init__(self, ttl: float = MODEL_PROBE_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[tuple[str, str], Generation] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_check(self, key: tuple[str, str], check: Callable[[], Generation]) -> Generation:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a second /readyz during a check waits for it instead of asking again
            kept = self._entries.get(key)
            if kept is not None and self.clock() - kept.at < self.ttl:
                return kept
            fresh = check()
            self._entries[key] = fresh
            return fresh

    def forget(self, key: tuple[str, str]) -> None:
        with self._guard:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every answer: the process that gave it may be gone (a service restarted)."""
        with self._guard:
            self._entries.clear()


GENERATE_HINT = (
    "the model server answers but cannot generate: read its log (embedded: logs/model.log in "
    "the data dir, shown by `daert status`)"
)


def _generate(base: str, model: str, clock: Callable[[], float]) -> Generation:
    """One chat completion of one token, the same call daert makes, but as short as can be."""
    import httpx  # noqa: PLC0415

    began = time.perf_counter()
    try:
        response = httpx.post(
            f"{base}/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
                "temperature": 0,
            },
            timeout=httpx.Timeout(GENERATE_TIMEOUT, connect=PROBE_TIMEOUT),
        )
    except httpx.TimeoutException:
        return Generation(
            clock(),
            error=f"the model did not generate one token within {GENERATE_TIMEOUT:.0f} s",
            hint="it serves one request at a time and may be busy with a long one; if this "
            "persists it hangs: read its log and restart it",
        )
    except httpx.HTTPError as err:
        return Generation(
            clock(),
            error=f"the model server failed while generating one token "
            f"({type(err).__name__}: {err or 'connection lost'})",
            hint=GENERATE_HINT + "; a crash here (e.g. SIGSEGV) is reported by the supervisor",
        )
    if response.status_code != 200:
        hint = GENERATE_HINT
        if response.status_code == 404:
            hint = f"the server may not serve a model named {model!r}: set DAERT_MODEL_NAME"
        return Generation(
            clock(),
            error=f"a one-token completion with {model!r} answered HTTP "
            f"{response.status_code}: {response.text[:200]}",
            hint=hint,
        )
    try:
        body = response.json()
        choice = body["choices"][0]
        tokens = (body.get("usage") or {}).get("completion_tokens")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Generation(
            clock(),
            error=f"a one-token completion answered 200 without a choice: {response.text[:200]}",
            hint="this server does not speak the OpenAI chat API as expected; check it by hand",
        )
    elapsed = (time.perf_counter() - began) * 1000
    counted = f"{tokens} token" if tokens is not None else "a reply"
    reason = choice.get("finish_reason") if isinstance(choice, dict) else None
    return Generation(clock(), summary=f"ok: {counted} in {elapsed:.0f} ms ({reason or 'done'})")


def _check_model(
    url: str, model: str | None = None, cache: ProbeCache | None = None
) -> tuple[str | None, dict[str, str]]:
    import httpx  # noqa: PLC0415

    base = url.rstrip("/")
    try:
        response = httpx.get(f"{base}/models", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        if cache is not None:  # the server is gone: whatever it generated before is moot
            cache.forget((base, model or ""))
        raise
    if response.status_code != 200:
        raise ProbeFailed(
            f"GET {url}/models answered HTTP {response.status_code}",
            hint="check the model server's log and its API key",
        )
    ids = [str(m.get("id")) for m in response.json().get("data", [])]
    name = model or (ids[0] if ids else None)
    if name is None:
        raise ProbeFailed(
            f"the model server at {url} lists no model",
            hint="load a model into it, or set DAERT_MODEL_URL to a server that serves one",
        )
    clock = cache.clock if cache is not None else time.monotonic
    if cache is None:
        generated = _generate(base, name, clock)
    else:
        generated = cache.get_or_check((base, model or ""), lambda: _generate(base, name, clock))
    if generated.error is not None:
        raise ProbeFailed(generated.error, hint=generated.hint)
    details = {"models": ", ".join(ids) or "(none)", "generation": generated.summary}
    age = clock() - generated.at
    if age >= 1:
        details["generation"] += f", checked {age:.0f} s ago"
    return None, details


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


CHECKS: dict[str, Check] = {
    "neo4j": _check_neo4j,
    "postgres": _check_postgres,
    "redis": _check_redis,
    "falkordb": _check_falkordb,
    "model": _check_model,
}


def probe(target: Target, cache: ProbeCache | None = None) -> ComponentHealth:
    """Run the check registered for `target.name`; `cache` keeps the model's answer briefly."""
    if target.name == "model":
        return _timed(target, lambda url: _check_model(url, target.model, cache))
    return _timed(target, CHECKS[target.name])


SERVICE_OF = {"postgres": "postgres", "redis": "redis", "falkordb": "redis", "model": "model"}
"""Which embedded service each component runs in (FalkorDB is a module in the embedded Redis)."""


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_supervision(
    results: Sequence[ComponentHealth], supervision: Mapping[str, Supervision]
) -> list[ComponentHealth]:
    """Add what the service watcher knows to each embedded component's probe result.

    A service that is being restarted, or that daert gave up on, is down whatever a probe saw,
    and its error and hint say why and what to do; one that came back keeps its probe result
    and shows its restarts and how it last ended.
    """
    for result in results:
        seen = supervision.get(SERVICE_OF.get(result.name, ""))
        if seen is None or result.mode != "embedded":
            continue
        result.details["supervision"] = seen.state
        result.details["restarts"] = str(seen.restarts)
        if seen.last_exit is not None:
            result.details["last_exit"] = f"{seen.last_exit.how} at {_when(seen.last_exit.at)}"
        if seen.state != "running":
            result.healthy = False
            result.error = seen.message
            result.hint = seen.hint
    return list(results)
