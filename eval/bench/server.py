"""Agent-Protocol servers compared: the same trivial graph served by each, same run, same client;
and daert's OpenAI-compatible API against a model double called directly.

    .venv/bin/python -m eval.bench.server [--only langgraph,aegra,daert,openai]
        [--requests 200] [--concurrency 16,64] [--duration 20] [--phase-seconds 30]
        [--workdir DIR] [--json OUT] [--postgres-url URL] [--daert-url URL]

Targets, measured one after the other (each alone on the machine while it is measured):
  langgraph  the LangGraph dev server (`langgraph-cli[inmem]`, `langgraph dev`, in memory);
             the baseline of the ratios whenever it was measured;
  aegra      Aegra (`aegra-cli`, `aegra serve`) on a database `aegra` (created when missing;
             daert's own tables never see it) of the PostgreSQL at --postgres-url, else of
             daert's embedded PostgreSQL for --daert-data-dir (`daert up`, then its password
             file and the port `daert status --json` shows);
  daert      daert serving the trivial graph (eval/bench/trivial_graph.py, import path
             `eval.bench.trivial_graph:graph`) as --daert-graph (default `trivial`): the server
             at --daert-url, else one the bench starts, `python -m daert --data-dir
             <workdir>/daert-data serve --port P`, with DAERT_GRAPHS for the trivial graph, no
             rate limit, warning-level logs, and the OpenAI double below as its chat model (no
             llama.cpp, no tools, no memory, no semantic cache, no model retries); waited for
             on /healthz, stopped with SIGTERM after the openai part, then `daert down`;
  openai     the OpenAI-compatible API, with the official `openai` client: the model double
             (agents/testing/openai_double.py, its own process, answering every chat
             completion after --delay s) called directly is the baseline; then daert's
             `/v1/chat/completions` with model `daert` (the built-in assistant: a full turn
             around one model call, on a new thread each request) and with model `trivial`
             (the echo graph: no model at all, the bare server). With --daert-url the daert
             models are that server's, whatever chat model it was given.
The bench installs each peer into its own virtualenv, `<workdir>/peers/<name>/.venv`
(`uv venv --python PY` + `uv pip install`, UV_PYTHON_DOWNLOADS=never; reused on later runs
while the spec is the same, --reinstall to start over), serves the trivial graph from
`<workdir>/peers/<name>/project/` on a free 127.0.0.1 port, waits until it answers, measures,
and stops it. A target that fails to install, start or answer is reported as failed, with the
reason, and the others go on. Logs: `<workdir>/peers/<name>/{install,server}.log`,
`<workdir>/daert/{server,double,cli}.log`.

Agent-Protocol targets are measured with the official client (`langgraph_sdk.get_client`),
after --warmup untimed runs:
  wait stateless    --requests sequential `runs.wait(None, graph)`: p50/p95 ms and runs/s;
  wait on thread    the same on one thread (its history grows by two messages a run);
  stream 1st event  --requests sequential stateless `runs.stream`: ms to the first event
                    (p50/p95), and to the end of the stream;
  N clients         for each --concurrency N: N asyncio tasks, each with its own client and
                    thread, call `runs.wait` back to back for --duration seconds: runs/s
                    (completed runs / wall time until the last one returned) and p50/p95 ms.
The openai models, after --warmup untimed calls, each request a new one-message question:
  complete          --requests sequential non-streamed completions: p50/p95 ms and runs/s;
  stream 1st chunk  --requests sequential streamed ones: ms to the first chunk with content
                    (p50/p95), and to the end of the stream;
  N clients         for each --openai-concurrency N: N tasks, each with its own client,
                    non-streamed completions back to back for --duration seconds.
A sequential phase stops early once it has run --phase-seconds (its runs say how many it
made). Every answer is checked: the Agent-Protocol state must end with the echo of the input;
the double and model `daert` must answer the double's text, model `trivial` the question.

Ratios are against the baseline measured in this run. Agent-Protocol: as speed-ups, baseline
ms / target ms for latencies, target runs/s / baseline runs/s for throughput, so above 1 means
the target is faster (against the LangGraph dev server, and daert against Aegra). openai:
daert's overhead over the double, daert ms - double ms, and the ratio daert / double (for
latencies: how many times as long; for runs/s: how many times as many). The client runs on
the same machine as the servers and shares its cores with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import langgraph_sdk
import openai
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import LangGraphError
from openai import AsyncOpenAI
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eval.bench.peers import (
    GRAPH_ID,
    InstallResult,
    Peer,
    PeerError,
    ServerProcess,
    default_python,
    find_uv,
    free_port,
    tail,
)
from eval.bench.peers import aegra as aegra_peer
from eval.bench.peers import daert as daert_peer
from eval.bench.peers import langgraph_dev as langgraph_peer

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("langgraph", "aegra", "daert", "openai")
TITLES = {
    "langgraph": "LangGraph dev server",
    "aegra": "Aegra",
    "daert": "daert",
    "openai": "OpenAI-compatible API",
}
MAX_ERRORS = 10  # a phase stops after this many failed calls
CALL_TIMEOUT = (10.0, 120.0, 60.0, 60.0)  # connect, read, write, pool
# The error types a failing server makes the client raise; anything else is a bench bug.
CALL_ERRORS = (httpx.HTTPError, LangGraphError, ValueError, KeyError, TypeError, OSError)
# The same for the openai client (its errors do not derive from httpx's).
OPENAI_ERRORS = (openai.OpenAIError, httpx.HTTPError, ValueError, KeyError, TypeError, OSError)

# Wide enough for the tables when the report goes to a file (rich wraps at 80 there).
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def say(message: str) -> None:
    """Progress on stderr, timestamped."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}", highlight=False)


class BenchError(RuntimeError):
    """A target answered, but not as the trivial graph would."""


# -- statistics ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


@dataclass
class Phase:
    """One measurement: latencies of the calls that succeeded, errors, and the phase's wall time."""

    name: str
    runs: int
    errors: int
    seconds: float
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    runs_per_s: float | None
    clients: int = 1
    first_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def make_phase(
    name: str,
    latencies: list[float],
    errors: list[str],
    seconds: float,
    *,
    clients: int = 1,
    throughput: bool = True,
    extra: dict[str, Any] | None = None,
) -> Phase:
    return Phase(
        name=name,
        runs=len(latencies),
        errors=len(errors),
        seconds=round(seconds, 3),
        p50_ms=_round(percentile(latencies, 0.50)),
        p95_ms=_round(percentile(latencies, 0.95)),
        mean_ms=_round(statistics.fmean(latencies) if latencies else None),
        runs_per_s=_round(len(latencies) / seconds if throughput and seconds > 0 else None),
        clients=clients,
        first_error=errors[0] if errors else None,
        extra=extra or {},
    )


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# -- the client side ----------------------------------------------------------------------


def make_client(url: str) -> LangGraphClient:
    # api_key=None: no key from the environment goes to a local server.
    return get_client(url=url, api_key=None, timeout=CALL_TIMEOUT)


def payload(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def check_echo(result: object, text: str) -> None:
    """The final state must end with the AI echo of `text`."""
    if not isinstance(result, dict):
        raise BenchError(f"runs.wait returned {type(result).__name__}, not the state")
    messages = result.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BenchError(f"no messages in the final state: {str(result)[:200]}")
    last = messages[-1]
    content = last.get("content") if isinstance(last, dict) else None
    if content != text:
        raise BenchError(f"last message is {str(last)[:200]}, not the echo of {text!r}")


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:300]


async def resolve_assistant(client: LangGraphClient, graph: str) -> str:
    """The assistant the server made for `graph`, else the graph id itself (servers take both)."""
    try:
        found = await client.assistants.search(graph_id=graph, limit=10)
    except CALL_ERRORS:
        return graph
    for assistant in found:
        if (assistant.get("metadata") or {}).get("created_by") == "system":
            return str(assistant["assistant_id"])
    return str(found[0]["assistant_id"]) if found else graph


async def wait_ready(url: str, timeout: float, server: ServerProcess | None) -> float:
    """Seconds until the server answers `POST /assistants/search`; PeerError if it never does."""
    began = time.perf_counter()
    async with get_client(url=url, api_key=None, timeout=5.0) as client:
        last = "no answer yet"
        while time.perf_counter() - began < timeout:
            if server is not None and (code := server.exited()) is not None:
                raise PeerError(f"server exited with {code} before answering:\n{tail(server.log)}")
            try:
                await client.assistants.search(limit=1)
            except CALL_ERRORS as exc:
                last = describe(exc)
                await asyncio.sleep(0.5)
            else:
                return time.perf_counter() - began
    log = f":\n{tail(server.log)}" if server is not None else ""
    raise PeerError(f"no answer from {url} within {timeout:.0f} s ({last}){log}")


def out_of_time(label: str, began: float, max_seconds: float, done: int, n: int) -> bool:
    """True (and said) once a sequential phase has run its --phase-seconds."""
    if time.perf_counter() - began < max_seconds:
        return False
    say(f"  {label}: stopping after {done}/{n} calls, {max_seconds:g} s (--phase-seconds)")
    return True


async def sequential_waits(  # noqa: PLR0917
    client: LangGraphClient,
    assistant: str,
    n: int,
    thread_id: str | None,
    label: str,
    max_seconds: float = math.inf,
) -> Phase:
    latencies: list[float] = []
    errors: list[str] = []
    step = max(1, n // 5)
    began = time.perf_counter()
    for i in range(n):
        if i and out_of_time(label, began, max_seconds, i, n):
            break
        text = f"{label} {i}"
        start = time.perf_counter()
        try:
            result = await client.runs.wait(thread_id, assistant, input=payload(text))
            check_echo(result, text)
        except (*CALL_ERRORS, BenchError) as exc:
            errors.append(describe(exc))
            if len(errors) >= MAX_ERRORS:
                say(f"  {label}: stopping after {len(errors)} errors: {errors[0]}")
                break
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        if (i + 1) % step == 0:
            say(f"  {label}: {i + 1}/{n}, p50 so far {percentile(latencies, 0.5) or 0:.1f} ms")
    return make_phase(label, latencies, errors, time.perf_counter() - began)


async def sequential_streams(
    client: LangGraphClient, assistant: str, n: int, max_seconds: float = math.inf
) -> Phase:
    label = "stream first event"
    firsts: list[float] = []
    totals: list[float] = []
    errors: list[str] = []
    first_events: Counter[str] = Counter()
    step = max(1, n // 5)
    began = time.perf_counter()
    for i in range(n):
        if i and out_of_time(label, began, max_seconds, i, n):
            break
        text = f"stream {i}"
        start = time.perf_counter()
        first: float | None = None
        last_values: object = None
        try:
            async for part in client.runs.stream(
                None, assistant, input=payload(text), stream_mode="values"
            ):
                if first is None:
                    first = time.perf_counter()
                    first_events[part.event] += 1
                if part.event == "error":
                    raise BenchError(f"error event: {str(part.data)[:200]}")
                if part.event == "values":
                    last_values = part.data
            check_echo(last_values, text)
        except (*CALL_ERRORS, BenchError) as exc:
            errors.append(describe(exc))
            if len(errors) >= MAX_ERRORS:
                say(f"  {label}: stopping after {len(errors)} errors: {errors[0]}")
                break
            continue
        assert first is not None  # check_echo passed, so a values event came
        firsts.append((first - start) * 1000)
        totals.append((time.perf_counter() - start) * 1000)
        if (i + 1) % step == 0:
            say(f"  {label}: {i + 1}/{n}, p50 so far {percentile(firsts, 0.5) or 0:.1f} ms")
    extra = {
        "complete_p50_ms": _round(percentile(totals, 0.5)),
        "complete_p95_ms": _round(percentile(totals, 0.95)),
        "first_event_names": dict(first_events),
    }
    return make_phase(
        label, firsts, errors, time.perf_counter() - began, throughput=False, extra=extra
    )


async def concurrent_waits(url: str, assistant: str, clients: int, duration: float) -> Phase:
    """`clients` tasks, each with its own client and thread, `runs.wait` until the deadline."""
    label = f"{clients} clients"
    sdks = [make_client(url) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    try:
        threads = await asyncio.gather(*(sdk.threads.create() for sdk in sdks))
        deadline = time.perf_counter() + duration

        async def worker(sdk: LangGraphClient, thread_id: str, index: int) -> None:
            failures_in_a_row = 0
            turn = 0
            while time.perf_counter() < deadline:
                turn += 1
                text = f"client {index} turn {turn}"
                start = time.perf_counter()
                try:
                    result = await sdk.runs.wait(thread_id, assistant, input=payload(text))
                    check_echo(result, text)
                except (*CALL_ERRORS, BenchError) as exc:
                    errors.append(describe(exc))
                    failures_in_a_row += 1
                    if failures_in_a_row >= MAX_ERRORS:
                        return
                    continue
                failures_in_a_row = 0
                latencies.append((time.perf_counter() - start) * 1000)

        async def progress() -> None:
            while True:
                await asyncio.sleep(max(2.0, duration / 4))
                say(f"  {label}: {len(latencies)} runs, {len(errors)} errors so far")

        began = time.perf_counter()
        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(
                *(
                    worker(sdk, str(thread["thread_id"]), i)
                    for i, (sdk, thread) in enumerate(zip(sdks, threads, strict=True))
                )
            )
        finally:
            reporter.cancel()
        seconds = time.perf_counter() - began
    except (*CALL_ERRORS, BenchError) as exc:  # creating the threads failed
        errors.append(describe(exc))
        seconds = 0.0
    finally:
        await asyncio.gather(*(sdk.aclose() for sdk in sdks), return_exceptions=True)
    return make_phase(label, latencies, errors, seconds, clients=clients)


async def measure(url: str, graph: str, args: argparse.Namespace) -> dict[str, Phase]:
    """All phases against one server that already answers."""
    phases: dict[str, Phase] = {}
    async with make_client(url) as client:
        assistant = await resolve_assistant(client, graph)
        say(f"  assistant {assistant}; {args.warmup} warm-up runs")
        for i in range(args.warmup):
            text = f"warm-up {i}"
            try:
                check_echo(await client.runs.wait(None, assistant, input=payload(text)), text)
            except (*CALL_ERRORS, BenchError) as exc:
                raise PeerError(f"warm-up run failed: {describe(exc)}") from exc
        cap = args.phase_seconds
        phases["wait_stateless"] = await sequential_waits(
            client, assistant, args.requests, None, "wait stateless", cap
        )
        thread = await client.threads.create()
        phases["wait_thread"] = await sequential_waits(
            client, assistant, args.requests, str(thread["thread_id"]), "wait on thread", cap
        )
        phases["stream_first_event"] = await sequential_streams(
            client, assistant, args.requests, cap
        )
    for clients in args.concurrency:
        say(f"  {clients} clients for {args.duration:g} s")
        phases[f"concurrent_{clients}"] = await concurrent_waits(
            url, assistant, clients, args.duration
        )
    return phases


# -- targets ------------------------------------------------------------------------------


@dataclass
class TargetResult:
    name: str
    title: str
    status: str  # "ok", "failed", "skipped"
    reason: str | None = None
    url: str | None = None
    spec: list[str] | None = None
    install_seconds: float | None = None
    installed_before: bool = False
    python: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    start_seconds: float | None = None
    # 1-minute load average when its turn began (includes the tail of the target before it)
    load_before: float | None = None
    notes: list[str] = field(default_factory=list)
    phases: dict[str, Phase] = field(default_factory=dict)


def run_peer(peer: Peer, args: argparse.Namespace) -> TargetResult:
    """Install, start, measure and stop one peer; failures become a 'failed' result."""
    result = TargetResult(peer.name, peer.title, "failed", spec=peer.spec)
    say(f"{peer.title}: preparing")
    try:
        installed: InstallResult = peer.install(say, reinstall=args.reinstall)
    except (PeerError, OSError) as exc:
        result.reason = f"install failed: {exc}"
        say(f"{peer.title}: {result.reason}")
        return result
    result.install_seconds = _round(installed.seconds, 1)
    result.installed_before = installed.seconds is None
    result.python = installed.python_version
    result.versions = installed.versions
    say(f"{peer.title}: {', '.join(f'{k} {v}' for k, v in installed.versions.items())}")
    port = free_port()
    try:
        server = peer.start(port)
    except OSError as exc:
        result.reason = f"could not start: {exc}"
        say(f"{peer.title}: {result.reason}")
        return result
    result.url = server.url
    say(f"{peer.title}: started pid {server.proc.pid} on {server.url}, waiting for it")
    try:
        result.start_seconds = _round(
            asyncio.run(wait_ready(server.url, args.start_timeout, server)), 1
        )
        say(f"{peer.title}: answering after {result.start_seconds} s; measuring")
        result.phases = asyncio.run(measure(server.url, GRAPH_ID, args))
        result.status = "ok"
    except (PeerError, *CALL_ERRORS) as exc:
        result.reason = str(exc) if isinstance(exc, PeerError) else describe(exc)
        say(f"{peer.title}: failed: {result.reason}")
    finally:
        say(f"{peer.title}: stopping")
        server.stop()
    return result


def run_daert(args: argparse.Namespace, stack: daert_peer.DaertStack) -> TargetResult:
    """Measure the daert at --daert-url, else start one (it stays up for the openai part)."""
    result = TargetResult("daert", TITLES["daert"], "failed")
    try:
        if args.daert_url:
            url = result.url = args.daert_url.rstrip("/")
            say(f"daert: checking {url}")
            result.start_seconds = _round(asyncio.run(wait_ready(url, args.start_timeout, None)), 1)
            result.notes.append("started beforehand (--daert-url)")
        else:
            url = start_daert(stack, args, result)
        say("daert: answering; measuring")
        result.phases = asyncio.run(measure(url, args.daert_graph, args))
        result.status = "ok"
    except (PeerError, *CALL_ERRORS) as exc:
        result.reason = str(exc) if isinstance(exc, PeerError) else describe(exc)
        say(f"daert: failed: {result.reason}")
    return result


def start_daert(
    stack: daert_peer.DaertStack, args: argparse.Namespace, result: TargetResult
) -> str:
    """Start (or reuse) the bench's daert server; its URL once /healthz answers."""
    if stack.server is not None:
        return stack.server.url
    services = (
        "its embedded services already up (`daert up`)"
        if stack.services_up
        else ("starting its embedded services")
    )
    say(f"daert: starting `daert serve` on {stack.data_dir}, {services}")
    server = stack.serve()
    result.url = server.url
    say(f"daert: pid {server.proc.pid} on {server.url}, chat model the double at "
        f"{stack.double.url}; waiting for /healthz")  # fmt: skip
    result.start_seconds = _round(stack.ready(args.start_timeout), 1)
    result.versions = daert_peer.versions()
    result.python = platform.python_version()
    result.notes.append(f"started by the bench on {stack.data_dir}, {services}")
    # /healthz answers before the API is ready to take runs: wait for that too.
    asyncio.run(wait_ready(server.url, args.start_timeout, server))
    return server.url


def run_target(
    name: str, args: argparse.Namespace, uv: list[str], stack: daert_peer.DaertStack
) -> TargetResult:
    workdir: Path = args.workdir
    if name == "daert":
        return run_daert(args, stack)
    if name == "langgraph":
        return run_peer(
            langgraph_peer.make(workdir, uv, args.python, spec=args.langgraph_spec), args
        )
    postgres_url = args.postgres_url
    try:
        if not postgres_url:
            say(f"Aegra: bringing up daert's embedded PostgreSQL for {stack.data_dir}")
            postgres_url = stack.postgres_url()
        database_url = aegra_peer.ensure_database(postgres_url, args.aegra_database)
    except PeerError as exc:
        return TargetResult(name, TITLES[name], "failed", reason=str(exc))
    result = run_peer(
        aegra_peer.make(workdir, uv, args.python, database_url, spec=args.aegra_spec), args
    )
    if not args.postgres_url:
        result.notes.append(f"on daert's embedded PostgreSQL ({stack.data_dir})")
    return result


# -- the OpenAI-compatible part ------------------------------------------------------------


@dataclass
class ChatModel:
    """One model measured with the openai client: where, which, and what it must answer."""

    key: str  # "double", "daert", "trivial"
    title: str
    base_url: str
    model: str
    echoes: bool  # answers the question itself (the echo graph); else the double's text
    status: str = "failed"
    reason: str | None = None
    phases: dict[str, Phase] = field(default_factory=dict)

    def check(self, content: str | None, question: str) -> None:
        want = question if self.echoes else daert_peer.DOUBLE_TEXT
        if (content or "").strip() != want:
            raise BenchError(f"{self.model} answered {str(content)[:200]!r}, not {want!r}")


@dataclass
class OpenAIResult:
    status: str  # "ok" (every model measured), "partial", "failed"
    delay_s: float
    reason: str | None = None
    double_url: str | None = None
    daert_url: str | None = None
    models: dict[str, ChatModel] = field(default_factory=dict)
    overhead: dict[str, dict[str, float | None]] = field(default_factory=dict)


def openai_client(base_url: str) -> AsyncOpenAI:
    # "unused": no key of the environment goes to a local server (daert takes it as no key).
    return AsyncOpenAI(
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        timeout=httpx.Timeout(CALL_TIMEOUT[1], connect=CALL_TIMEOUT[0]),
    )


def question(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def complete_once(client: AsyncOpenAI, target: ChatModel, text: str) -> None:
    reply = await client.chat.completions.create(model=target.model, messages=question(text))
    if not reply.choices:
        raise BenchError(f"{target.model}: a completion without choices")
    target.check(reply.choices[0].message.content, text)


async def stream_once(client: AsyncOpenAI, target: ChatModel, text: str) -> tuple[float, float]:
    """(ms to the first chunk with content, ms to the end of the stream)."""
    start = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    stream = await client.chat.completions.create(
        model=target.model, messages=question(text), stream=True
    )
    async for chunk in stream:
        content = chunk.choices[0].delta.content if chunk.choices else None
        if content:
            if first is None:
                first = time.perf_counter()
            pieces.append(content)
    end = time.perf_counter()
    target.check("".join(pieces), text)
    assert first is not None  # check passed, so some content came
    return (first - start) * 1000, (end - start) * 1000


async def openai_sequential(
    client: AsyncOpenAI, target: ChatModel, n: int, max_seconds: float, *, stream: bool
) -> Phase:
    label = f"{target.key} {'stream first chunk' if stream else 'complete'}"
    latencies: list[float] = []
    totals: list[float] = []
    errors: list[str] = []
    step = max(1, n // 5)
    began = time.perf_counter()
    for i in range(n):
        if i and out_of_time(label, began, max_seconds, i, n):
            break
        text = f"question {i} ({'streamed' if stream else 'complete'})"
        start = time.perf_counter()
        try:
            if stream:
                first, total = await stream_once(client, target, text)
            else:
                await complete_once(client, target, text)
                first = total = (time.perf_counter() - start) * 1000
        except (*OPENAI_ERRORS, BenchError) as exc:
            errors.append(describe(exc))
            if len(errors) >= MAX_ERRORS:
                say(f"  {label}: stopping after {len(errors)} errors: {errors[0]}")
                break
            continue
        latencies.append(first)
        totals.append(total)
        if (i + 1) % step == 0:
            say(f"  {label}: {i + 1}/{n}, p50 so far {percentile(latencies, 0.5) or 0:.1f} ms")
    seconds = time.perf_counter() - began
    name = "stream first chunk" if stream else "complete"
    if not stream:
        return make_phase(name, latencies, errors, seconds)
    extra = {
        "complete_p50_ms": _round(percentile(totals, 0.5)),
        "complete_p95_ms": _round(percentile(totals, 0.95)),
    }
    return make_phase(name, latencies, errors, seconds, throughput=False, extra=extra)


async def openai_concurrent(target: ChatModel, clients: int, duration: float) -> Phase:
    """`clients` tasks, each with its own client, non-streamed completions until the deadline."""
    label = f"{target.key} {clients} clients"
    sdks = [openai_client(target.base_url) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + duration

    async def worker(sdk: AsyncOpenAI, index: int) -> None:
        failures_in_a_row = 0
        turn = 0
        while time.perf_counter() < deadline:
            turn += 1
            text = f"client {index} question {turn}"
            start = time.perf_counter()
            try:
                await complete_once(sdk, target, text)
            except (*OPENAI_ERRORS, BenchError) as exc:
                errors.append(describe(exc))
                failures_in_a_row += 1
                if failures_in_a_row >= MAX_ERRORS:
                    return
                continue
            failures_in_a_row = 0
            latencies.append((time.perf_counter() - start) * 1000)

    async def progress() -> None:
        while True:
            await asyncio.sleep(max(2.0, duration / 4))
            say(f"  {label}: {len(latencies)} runs, {len(errors)} errors so far")

    began = time.perf_counter()
    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(worker(sdk, i) for i, sdk in enumerate(sdks)))
    finally:
        reporter.cancel()
        await asyncio.gather(*(sdk.close() for sdk in sdks), return_exceptions=True)
    seconds = time.perf_counter() - began
    return make_phase(f"{clients} clients", latencies, errors, seconds, clients=clients)


async def measure_chat(target: ChatModel, args: argparse.Namespace) -> dict[str, Phase]:
    """All openai phases against one model that already answers."""
    phases: dict[str, Phase] = {}
    async with openai_client(target.base_url) as client:
        say(f"  {target.title}: {args.warmup} warm-up calls")
        for i in range(args.warmup):
            try:
                await complete_once(client, target, f"warm-up {i}")
            except (*OPENAI_ERRORS, BenchError) as exc:
                raise PeerError(f"warm-up call failed: {describe(exc)}") from exc
        cap = args.phase_seconds
        phases["complete"] = await openai_sequential(
            client, target, args.requests, cap, stream=False
        )
        phases["stream_first_chunk"] = await openai_sequential(
            client, target, args.requests, cap, stream=True
        )
    for clients in args.openai_concurrency:
        say(f"  {target.title}: {clients} clients for {args.duration:g} s")
        phases[f"concurrent_{clients}"] = await openai_concurrent(target, clients, args.duration)
    return phases


def run_openai(args: argparse.Namespace, stack: daert_peer.DaertStack) -> OpenAIResult:
    """The double directly, then daert's /v1 with models `daert` and the trivial graph."""
    result = OpenAIResult("failed", delay_s=args.delay)
    try:
        say(f"openai: starting the model double ({args.delay:g} s a reply)")
        stack.double.start()
        result.double_url = stack.double.url
        if args.daert_url:
            base = args.daert_url.rstrip("/")
        else:
            base = start_daert(stack, args, TargetResult("daert", TITLES["daert"], "failed"))
    except (PeerError, *CALL_ERRORS) as exc:
        result.reason = str(exc) if isinstance(exc, PeerError) else describe(exc)
        say(f"openai: failed: {result.reason}")
        return result
    result.daert_url = f"{base}/v1"
    for target in (
        ChatModel("double", "the double, directly", stack.double.url, "double", echoes=False),
        ChatModel("daert", "daert, model daert", result.daert_url, "daert", echoes=False),
        ChatModel(
            "trivial", f"daert, model {args.daert_graph}", result.daert_url, args.daert_graph,
            echoes=True,
        ),
    ):  # fmt: skip
        result.models[target.key] = target
        say(f"openai: {target.title} ({target.base_url}); measuring")
        try:
            target.phases = asyncio.run(measure_chat(target, args))
            target.status = "ok"
        except (PeerError, *OPENAI_ERRORS) as exc:
            target.reason = str(exc) if isinstance(exc, PeerError) else describe(exc)
            say(f"openai: {target.title}: failed: {target.reason}")
    measured = [m for m in result.models.values() if m.status == "ok"]
    result.status = "ok" if len(measured) == len(result.models) else (
        "partial" if measured else "failed"
    )  # fmt: skip
    result.overhead = overhead(result, args.openai_concurrency)
    return result


# (row label, phase key, field, is throughput) of the overhead table
def overhead_rows(concurrency: list[int]) -> list[tuple[str, str, str, bool]]:
    return [
        ("complete p50 ms", "complete", "p50_ms", False),
        ("complete p95 ms", "complete", "p95_ms", False),
        ("complete runs/s (1 client)", "complete", "runs_per_s", True),
        ("stream first chunk p50 ms", "stream_first_chunk", "p50_ms", False),
        ("stream first chunk p95 ms", "stream_first_chunk", "p95_ms", False),
        ("stream to end p50 ms", "stream_first_chunk", "complete_p50_ms", False),
        *((f"{c} clients runs/s", f"concurrent_{c}", "runs_per_s", True) for c in concurrency),
        *((f"{c} clients p50 ms", f"concurrent_{c}", "p50_ms", False) for c in concurrency),
    ]


def phase_value(model: ChatModel | None, phase: str, key: str) -> float | None:
    if model is None or model.status != "ok" or phase not in model.phases:
        return None
    found = model.phases[phase]
    value = getattr(found, key) if hasattr(found, key) else found.extra.get(key)
    return None if value is None else float(value)


def overhead(result: OpenAIResult, concurrency: list[int]) -> dict[str, dict[str, float | None]]:
    """Per row: the double, daert, trivial; daert - double (ms) and daert / double."""
    double, daert, trivial = (result.models.get(k) for k in ("double", "daert", "trivial"))
    table: dict[str, dict[str, float | None]] = {}
    for label, phase, key, throughput in overhead_rows(concurrency):
        d = phase_value(double, phase, key)
        a = phase_value(daert, phase, key)
        t = phase_value(trivial, phase, key)
        table[label] = {
            "double": d,
            "daert": a,
            "trivial": t,
            "daert_minus_double": None if throughput or d is None or a is None else _round(a - d),
            "daert_over_double": _round(a / d, 3) if a is not None and d else None,
        }
    return table


# -- report -------------------------------------------------------------------------------

# (phase key, field, is throughput) for the ratios
RATIO_ROWS: list[tuple[str, str, bool]] = [
    ("wait_stateless", "p50_ms", False),
    ("wait_stateless", "p95_ms", False),
    ("wait_thread", "p50_ms", False),
    ("wait_thread", "p95_ms", False),
    ("stream_first_event", "p50_ms", False),
    ("stream_first_event", "p95_ms", False),
]


def ratio_rows(concurrency: list[int]) -> list[tuple[str, str, bool]]:
    return [
        ("wait_stateless", "runs_per_s", True),
        *RATIO_ROWS,
        *((f"concurrent_{c}", "runs_per_s", True) for c in concurrency),
    ]


def speedup(base: Phase | None, other: Phase | None, key: str, throughput: bool) -> float | None:
    if base is None or other is None:
        return None
    b: float | None = getattr(base, key)
    o: float | None = getattr(other, key)
    if not b or not o:
        return None
    return round(o / b if throughput else b / o, 3)


def ratios(
    results: list[TargetResult], baseline: TargetResult | None, concurrency: list[int]
) -> dict[str, dict[str, float | None]]:
    if baseline is None:
        return {}
    table: dict[str, dict[str, float | None]] = {}
    for result in results:
        if result.status != "ok" or result is baseline:
            continue
        table[result.name] = {
            f"{phase} {key}": speedup(
                baseline.phases.get(phase), result.phases.get(phase), key, throughput
            )
            for phase, key, throughput in ratio_rows(concurrency)
        }
    return table


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_gib: float | None = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "langgraph_sdk": langgraph_sdk.__version__,
        "openai": openai.__version__,
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def print_phases(title: str, phases: dict[str, Phase]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("measure", "runs", "p50 ms", "p95 ms", "runs/s", "errors"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for phase in phases.values():
        table.add_row(
            phase.name,
            str(phase.runs),
            _ms(phase.p50_ms),
            _ms(phase.p95_ms),
            "—" if phase.runs_per_s is None else f"{phase.runs_per_s:,.1f}",
            str(phase.errors),
        )
        if "complete_p50_ms" in phase.extra:
            table.add_row(
                "  stream to end",
                "",
                _ms(phase.extra.get("complete_p50_ms")),
                _ms(phase.extra.get("complete_p95_ms")),
                "",
                "",
            )
    out.print(table)


def print_errors(phases: dict[str, Phase]) -> None:
    for phase in phases.values():
        if phase.first_error:
            out.print(
                f"[yellow]{escape(phase.name)}: {phase.errors} errors, the first: "
                f"{escape(phase.first_error)}"
            )


def print_target(result: TargetResult) -> None:
    if result.status != "ok":
        out.print(f"[bold]{escape(result.title)}[/bold]: [red]{result.status}[/red]")
        if result.reason:
            out.print(escape(result.reason))
        return
    print_phases(f"{result.title}  ({result.url})", result.phases)
    notes = target_notes(result)
    if notes:
        out.print(escape("; ".join(notes)))
    print_errors(result.phases)


def target_notes(result: TargetResult) -> list[str]:
    notes = []
    if result.versions:
        notes.append(", ".join(f"{k} {v}" for k, v in result.versions.items()))
    if result.python:
        notes.append(f"Python {result.python}")
    if result.install_seconds is not None:
        notes.append(f"installed in {result.install_seconds:.1f} s")
    elif result.installed_before:
        notes.append("venv reused")
    if result.start_seconds is not None:
        notes.append(f"answered {result.start_seconds:.1f} s after start")
    if result.load_before is not None:
        notes.append(f"load average {result.load_before:.2f} before its turn")
    notes.extend(result.notes)
    return notes


def print_ratios(
    table: dict[str, dict[str, float | None]],
    baseline: TargetResult,
    results: list[TargetResult],
) -> None:
    if not table:
        return
    titles = {r.name: r.title for r in results}
    view = Table(
        title=f"Speed-up against {baseline.title} (same run; above 1 = faster)",
        title_justify="left",
    )
    view.add_column("measure")
    for name in table:
        view.add_column(titles[name], justify="right")
    rows = next(iter(table.values())).keys()
    for row in rows:
        cells = [table[name][row] for name in table]
        view.add_row(row, *("—" if c is None else f"x{c:.2f}" for c in cells))
    out.print(view)


def print_openai(result: OpenAIResult) -> None:
    title = TITLES["openai"]
    if not result.models:
        out.print(f"[bold]{title}[/bold]: [red]{result.status}[/red]")
        if result.reason:
            out.print(escape(result.reason))
        return
    for model in result.models.values():
        name = f"{title}: {model.title}"
        if model.status != "ok":
            out.print(f"[bold]{escape(name)}[/bold]: [red]{model.status}[/red]")
            if model.reason:
                out.print(escape(model.reason))
            continue
        print_phases(f"{name}  (model {model.model} at {model.base_url})", model.phases)
        print_errors(model.phases)
        out.print()
    if not result.overhead:
        return
    view = Table(
        title=f"daert's /v1/chat/completions against the double called directly "
        f"({result.delay_s * 1000:g} ms a reply; same run)",
        title_justify="left",
    )
    for column in ("measure", "double", "daert", "daert - double", "daert / double", "trivial"):
        view.add_column(column, justify="left" if column == "measure" else "right")
    for row, cells in result.overhead.items():
        ratio = cells["daert_over_double"]
        minus = cells["daert_minus_double"]
        view.add_row(
            row,
            _ms(cells["double"]),
            _ms(cells["daert"]),
            "—" if minus is None else f"{minus:+,.1f}",
            "—" if ratio is None else f"x{ratio:.2f}",
            _ms(cells["trivial"]),
        )
    out.print(view)
    out.print(
        "daert - double: what the assistant turn adds to the model's time; trivial: the same "
        "API on the echo graph (no model), the bare server."
    )


# -- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench.server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="sequential calls per phase (200)"
    )
    parser.add_argument(
        "--concurrency",
        default="16,64",
        help="comma-separated numbers of concurrent clients (16,64)",
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per concurrent phase (20)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (5)")
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=30.0,
        help="a sequential phase stops after this many seconds, whatever --requests says (30)",
    )
    parser.add_argument(
        "--openai-concurrency",
        default="16",
        help="comma-separated numbers of concurrent openai clients (16)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.05,
        help="seconds the model double takes for each reply (0.05)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "daert-bench-server",
        help="peer virtualenvs, projects and logs (<tmp>/daert-bench-server)",
    )
    parser.add_argument(
        "--postgres-url",
        help="PostgreSQL for Aegra: a database --aegra-database is made on its server "
        "(default: daert's embedded one of --daert-data-dir)",
    )
    parser.add_argument(
        "--aegra-database",
        default=aegra_peer.DATABASE,
        help="Aegra's database on the --postgres-url server, made when missing (aegra)",
    )
    parser.add_argument(
        "--daert-url",
        help="base URL of a running daert server serving the trivial graph (default: the "
        "bench starts one on --daert-data-dir)",
    )
    parser.add_argument(
        "--daert-data-dir",
        type=Path,
        help="data dir of the daert the bench starts, and of the embedded PostgreSQL Aegra "
        "uses without --postgres-url (<workdir>/daert-data)",
    )
    parser.add_argument(
        "--daert-graph",
        default=GRAPH_ID,
        help="graph (or assistant) id of the trivial graph on daert (trivial)",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated targets to measure, of {','.join(TARGETS)} (all that can run)",
    )
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument(
        "--python",
        default=default_python(),
        help="interpreter for the peer virtualenvs (this one's base interpreter)",
    )
    parser.add_argument(
        "--langgraph-spec",
        action="append",
        help="what to install for the LangGraph dev server (langgraph-cli[inmem]); repeatable",
    )
    parser.add_argument(
        "--aegra-spec", action="append", help="what to install for Aegra (aegra-cli); repeatable"
    )
    parser.add_argument("--reinstall", action="store_true", help="remake the peer virtualenvs")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        help="seconds a server has to answer after starting (120)",
    )
    args = parser.parse_args(argv)
    for name in ("concurrency", "openai_concurrency"):
        try:
            setattr(args, name, [int(c) for c in getattr(args, name).split(",") if c.strip()])
        except ValueError:
            parser.error(f"--{name.replace('_', '-')} takes comma-separated integers, e.g. 16,64")
    if (
        any(c < 1 for c in [*args.concurrency, *args.openai_concurrency])
        or args.requests < 1
        or args.duration <= 0
        or args.phase_seconds <= 0
    ):
        parser.error(
            "--requests, --concurrency, --openai-concurrency, --duration and --phase-seconds "
            "must be positive"
        )
    if args.delay < 0 or args.warmup < 0:
        parser.error("--delay and --warmup cannot be negative")
    if args.only:
        only = [t.strip() for t in args.only.split(",") if t.strip()]
        unknown = sorted(set(only) - set(TARGETS))
        if unknown:
            parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        args.targets = [t for t in TARGETS if t in only]
    else:
        args.targets = list(TARGETS)
    args.workdir = args.workdir.resolve()
    args.daert_data_dir = (args.daert_data_dir or args.workdir / "daert-data").resolve()
    return args


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0912, PLR0915
    args = parse_args(argv)
    info = machine()
    out.print(
        f"[bold]Machine[/bold]: {escape(str(info['cpu']))}, {info['cores']} cores "
        f"({info['cores_usable']} usable), {info['memory_gib']} GiB; {escape(info['os'])}; "
        f"bench Python {info['python']}, langgraph-sdk {info['langgraph_sdk']}, "
        f"openai {info['openai']}; load average {info['load_average_1m']} at the start"
    )
    out.print(
        f"requests {args.requests} (at most {args.phase_seconds:g} s a phase), concurrency "
        f"{','.join(map(str, args.concurrency))} (openai "
        f"{','.join(map(str, args.openai_concurrency))}) for {args.duration:g} s, warm-up "
        f"{args.warmup}, double {args.delay * 1000:g} ms; workdir {escape(str(args.workdir))}"
    )
    uv = find_uv(ROOT)
    home = args.workdir / "daert"
    stack = daert_peer.DaertStack(
        data_dir=args.daert_data_dir,
        home=home,
        double=daert_peer.Double(home / "double.log", args.delay),
        graph=args.daert_graph,
    )
    # The bench's daert serves the daert target and then the openai part; it stops after them.
    last_daert_user = next((t for t in reversed(args.targets) if t in {"daert", "openai"}), None)
    results: list[TargetResult] = []
    chat: OpenAIResult | None = None
    started = datetime.now(UTC)
    try:
        for name in args.targets:
            load_before = round(os.getloadavg()[0], 2)
            say(f"{TITLES[name]}: load average {load_before:.2f} (1 min) before its turn")
            if name == "openai":
                chat = run_openai(args, stack)
            else:
                result = run_target(name, args, uv, stack)
                result.load_before = load_before
                results.append(result)
            if name == last_daert_user and stack.server is not None:
                say("daert: stopping the server (SIGTERM)")
                stack.stop_server()
    except KeyboardInterrupt:
        say("interrupted; reporting what was measured")
    finally:
        if stack.touched:
            say(f"daert: `daert down` for {stack.data_dir}")
        for problem in stack.close():
            say(f"daert: {problem}")
    measured = [r for r in results if r.status == "ok"]
    baseline = next((r for r in measured if r.name == "langgraph"), None) or (
        measured[0] if measured else None
    )
    table = ratios(results, baseline, args.concurrency)
    by_name = {r.name: r for r in measured}
    versus_aegra: dict[str, dict[str, float | None]] = {}
    if "daert" in by_name and "aegra" in by_name and baseline is not by_name["aegra"]:
        versus_aegra = ratios([by_name["daert"]], by_name["aegra"], args.concurrency)

    out.print()
    for result in results:
        print_target(result)
        out.print()
    if baseline is not None:
        print_ratios(table, baseline, results)
    if versus_aegra:
        out.print()
        print_ratios(versus_aegra, by_name["aegra"], results)
    if chat is not None:
        out.print()
        print_openai(chat)

    if args.json:
        report = {
            "benchmark": "eval.bench.server",
            "started": started.isoformat(timespec="seconds"),
            "machine": info,
            "settings": {
                "requests": args.requests,
                "phase_seconds": args.phase_seconds,
                "concurrency": args.concurrency,
                "openai_concurrency": args.openai_concurrency,
                "duration_s": args.duration,
                "warmup": args.warmup,
                "double_delay_s": args.delay,
                "peer_python": args.python,
                "daert_data_dir": str(args.daert_data_dir),
            },
            "baseline": baseline.name if baseline else None,
            "targets": [asdict(r) for r in results],
            "speedup_vs_baseline": table,
            "daert_vs_aegra": versus_aegra.get("daert", {}),
            "openai": asdict(chat) if chat is not None else None,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        out.print(f"JSON: {escape(str(args.json))}")
    chat_ok = chat is not None and chat.status != "failed"
    return 0 if measured or chat_ok else 1


if __name__ == "__main__":
    sys.exit(main())
