"""`daert serve`, `up`, `down`, `status` and `doctor` as a person runs them, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from core.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def daert(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daert", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def status(data_dir: Path) -> dict[str, dict[str, Any] | None]:
    done = daert(data_dir, "status", "--json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, dict[str, Any] | None] = json.loads(done.stdout)
    return parsed


def wait_for(url: str, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daert serve exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def readyz(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=60)


def eventually[T](check: Callable[[], T | None], timeout: float = 240) -> T:
    """The first non-None result of `check`, polled; fails after `timeout` s (a guard only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not reached within {timeout}s")


def back_after(base: str, service: str, signal_name: str) -> tuple[dict[str, Any], list[Any]]:
    """Poll /readyz until it is ready again with `service` restarted after dying by the signal;
    return that body and the 503 bodies seen on the way."""
    outages: list[Any] = []

    def check() -> dict[str, Any] | None:
        response = readyz(base)
        body: dict[str, Any] = response.json()
        if response.status_code == 503:
            outages.append(body)
            return None
        seen = body["services"].get(service)
        if seen and seen["restarts"] >= 1 and seen["last_exit"]["signal"] == signal_name:
            return body
        return None

    return eventually(check), outages


def gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        if not alive:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def served(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daert", "--data-dir", str(data_dir), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        daert(data_dir, "down")


def test_serve_reports_every_dependency_and_restarts_a_dead_redis(
    served: tuple[str, subprocess.Popen[str]], data_dir: Path
) -> None:
    base, proc = served
    ready = readyz(base)
    assert ready.status_code == 200, ready.text
    components = ready.json()["components"]
    assert set(components) == {"postgres", "redis", "falkordb", "model"}
    assert components["postgres"]["details"]["pgvector"]
    assert int(components["redis"]["version"].split(".")[0]) >= 8
    assert components["redis"]["details"]["vector_sets"] == "available"
    assert "***" in components["redis"]["url"]
    assert components["model"]["details"]["generation"].startswith("ok")  # it generated

    redis_record = status(data_dir)["redis"]
    assert redis_record is not None
    redis_pid = int(redis_record["pid"])
    os.kill(redis_pid, signal.SIGKILL)
    assert gone([redis_pid])
    assert httpx.get(f"{base}/healthz").status_code == 200  # the API itself stays up
    body, outages = back_after(base, "redis", "SIGKILL")
    for outage in outages:  # seen while it was down, if a poll fell into that window
        assert "redis" in outage["down"]
    assert body["components"]["redis"]["details"]["last_exit"].startswith("killed by SIGKILL")
    back = status(data_dir)["redis"]
    assert back is not None and back["port"] == redis_record["port"]  # clients' URLs hold
    assert back["pid"] != redis_pid and back["supervision"]["restarts"] == 1

    again = daert(data_dir, "up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr and "starting" not in again.stderr

    doctor = daert(data_dir, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "pgvector" in doctor.stdout and "SIGKILL" in doctor.stdout

    # SIGKILL the server: the services it started die with it, the restarted one too.
    owned = [int(r["pid"]) for r in status(data_dir).values() if r]
    assert len(owned) == 3
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert gone(owned), "services owned by a killed `daert serve` were left running"
    assert all(r is None for r in status(data_dir).values())


def test_serve_brings_back_a_model_that_segfaulted(
    served: tuple[str, subprocess.Popen[str]], data_dir: Path
) -> None:
    base, proc = served
    assert readyz(base).status_code == 200
    model = status(data_dir)["model"]
    assert model is not None
    os.kill(int(model["pid"]), signal.SIGSEGV)

    body, outages = back_after(base, "model", "SIGSEGV")
    for outage in outages:  # while it was down, /readyz named it and said how it ended
        assert outage["down"] == ["model"]
        error = outage["components"]["model"]["error"]
        assert "killed by SIGSEGV" in error or "not running" in error or "Error" in error
    seen = body["services"]["model"]
    assert seen["state"] == "running" and seen["restarts"] == 1
    assert seen["last_exit"]["how"] == "killed by SIGSEGV" and "log_tail" not in seen["last_exit"]
    assert body["components"]["model"]["details"]["generation"].startswith("ok")

    back = status(data_dir)["model"]
    assert back is not None and back["port"] == model["port"] and back["pid"] != model["pid"]
    assert back["supervision"]["last_exit"]["log_tail"]  # the CLI shows the log lines
    table = daert(data_dir, "status")
    assert "restarted 1x" in table.stdout and "SIGSEGV" in table.stdout

    answer = daert(data_dir, "models", "call", "chat", "Complete: The capital of France is")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    assert proc.poll() is None


def test_up_twice_then_down(data_dir: Path) -> None:
    first = daert(data_dir, "up", "--json")
    assert first.returncode == 0, first.stderr
    pids = {n: r["pid"] for n, r in json.loads(first.stdout).items()}
    assert set(pids) == {"postgres", "redis", "model"}
    second = daert(data_dir, "up", "--json")
    assert {n: r["pid"] for n, r in json.loads(second.stdout).items()} == pids
    assert "hunter" not in second.stdout and ":***@" in second.stdout

    listed = daert(data_dir, "models")
    assert listed.returncode == 0, listed.stderr
    assert "llamacpp" in listed.stdout and "ok" in listed.stdout
    called = daert(data_dir, "models", "call", "chat", "Hello", "--max-tokens", "4")
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip()
    usage = json.loads(daert(data_dir, "models", "usage", "--json", "--user", "cli").stdout)
    assert usage[0]["alias"] == "chat" and usage[0]["calls"] == 1
    unknown = daert(data_dir, "models", "call", "nope", "Hello")
    assert unknown.returncode == 2 and "model_alias_unknown" in unknown.stderr

    docs = data_dir.parent / "docs"
    docs.mkdir()
    (docs / "bread.md").write_text("# Bread\n\nLet sourdough rise overnight before baking.")
    (docs / "tax.md").write_text("# Tax\n\nVAT returns are due one month after the quarter.")
    (docs / "junk.txt").write_bytes(b"\x00\x01")
    ingested = daert(data_dir, "ingest", str(docs), "--collection", "e2e", "--json")
    assert ingested.returncode == 1  # junk.txt failed, the rest went in
    outcomes = {r["source"].rsplit("/", 1)[1]: r["outcome"] for r in json.loads(ingested.stdout)}
    assert outcomes == {"bread.md": "added", "tax.md": "added", "junk.txt": "failed"}
    found = daert(data_dir, "search", "when is VAT due", "--collection", "e2e", "--json", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["source"].endswith("tax.md")
    refused = daert(data_dir, "kg", "cypher", "MATCH (n) DETACH DELETE n")
    assert refused.returncode == 2 and "cypher_write_refused" in refused.stderr

    done = daert(data_dir, "down")
    assert done.returncode == 0
    assert gone([int(p) for p in pids.values()])
    assert daert(data_dir, "doctor").returncode == 1


def test_serve_refuses_a_taken_port(data_dir: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        done = daert(data_dir, "serve", "--port", str(port))
    assert done.returncode == 2
    assert "port_in_use" in done.stderr and "--port" in done.stderr


def test_exec_sessions_live_in_the_server_across_invocations(
    served: tuple[str, subprocess.Popen[str]], data_dir: Path, tmp_path: Path
) -> None:
    base, _ = served
    (tmp_path / "a.py").write_text("x = 6")
    (tmp_path / "b.py").write_text("x * 7")
    first = daert(data_dir, "exec", "--session", "s1", "--server", base, str(tmp_path / "a.py"))
    assert first.returncode == 0, first.stderr
    second = daert(
        data_dir, "exec", "--session", "s1", "--server", base, "--json", str(tmp_path / "b.py")
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["results"][0]["result"] == "42"
    other = daert(
        data_dir, "exec", "--session", "s2", "--server", base, "--json", str(tmp_path / "b.py")
    )
    assert other.returncode == 1
    assert json.loads(other.stdout)["results"][0]["error"].startswith("NameError")

    assert httpx.delete(f"{base}/v1/code/sessions/s1", timeout=30).status_code == 204
    bad = httpx.post(f"{base}/v1/code/sessions/..%2F/execute", json={"code": "1"}, timeout=30)
    assert bad.status_code in (400, 404) and "error" in bad.json()
    malformed = httpx.post(f"{base}/v1/code/sessions/s1/execute", json={"cod": 1}, timeout=30)
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "invalid_request"

    nobody = daert(
        data_dir,
        "exec",
        "--session",
        "s1",
        "--server",
        "http://127.0.0.1:9",
        str(tmp_path / "a.py"),
    )
    assert nobody.returncode == 1
    assert "server_not_running" in nobody.stderr
