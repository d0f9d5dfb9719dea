"""Restarts, crashes, stale state and bad data dirs, on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis

from core.errors import ConfigError, ServiceError
from daert.health import probe
from daert.services.datadir import ensure_data_dir
from daert.services.plan import build_supervisor, endpoints
from daert.services.state import ServiceRecord
from daert.services.supervisor import Supervisor
from daert.settings import Settings, load_settings
from daert.targets import probe_targets

pytestmark = pytest.mark.slow


def _settings(data_dir: Path, **kw: Any) -> Settings:
    return load_settings(data_dir=data_dir, local_model=False, **kw)


@pytest.fixture
def sup(data_dir: Path) -> Iterator[Supervisor]:
    supervisor = build_supervisor(_settings(data_dir))
    yield supervisor
    supervisor.down()


def _write_data(records: dict[str, ServiceRecord]) -> None:
    with psycopg.connect(records["postgres"].url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int primary key, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'kept')")
    client = redis.Redis.from_url(records["redis"].url)
    client.set("cache:key", "kept")
    client.execute_command("GRAPH.QUERY", "g", "CREATE (:N {v: 'kept'})")
    client.execute_command("WAITAOF", 1, 0, 5000)  # durable in the AOF, even against SIGKILL
    client.close()


def _read_data(records: dict[str, ServiceRecord]) -> tuple[str, object, object]:
    with psycopg.connect(records["postgres"].url) as conn:
        row = conn.execute("SELECT body FROM notes WHERE id = 1").fetchone()
    client = redis.Redis.from_url(records["redis"].url)
    cached = client.get("cache:key")
    graph = client.execute_command("GRAPH.RO_QUERY", "g", "MATCH (n:N) RETURN n.v")
    client.close()
    assert row is not None
    return str(row[0]), cached, graph[1]


def test_clean_restart_keeps_data_and_ports(sup: Supervisor) -> None:
    first = sup.up(detached=True)
    _write_data(first)
    assert sorted(sup.down()) == ["postgres", "redis"]
    assert all(r is None for r in sup.status().values())
    second = sup.up(detached=True)
    assert {n: r.port for n, r in second.items()} == {n: r.port for n, r in first.items()}
    assert {n: r.pid for n, r in second.items()} != {n: r.pid for n, r in first.items()}
    assert _read_data(second) == ("kept", b"kept", [[b"kept"]])


def test_killed_services_are_reported_and_come_back_with_their_data(sup: Supervisor) -> None:
    settings = _settings(sup.data_dir)
    first = sup.up(detached=True)
    _write_data(first)
    for name in ("redis", "postgres"):
        os.kill(first[name].pid, signal.SIGKILL)
        psutil.Process(first[name].pid).wait(10)
    down = {r.name: r for r in map(probe, probe_targets(settings, endpoints(settings, sup)))}
    assert not down["postgres"].healthy and not down["redis"].healthy
    assert "daert up" in (down["redis"].hint or "")
    again = sup.up(detached=True)  # the stale records name dead pids: replaced, data recovered
    assert _read_data(again) == ("kept", b"kept", [[b"kept"]])


def test_reused_pid_in_a_record_is_not_trusted(sup: Supervisor) -> None:
    first = sup.up(detached=True)
    sup.down()
    fake = dict(first["redis"].__dict__, pid=os.getpid(), create_time=0.0)
    (sup.data_dir / "run" / "redis.json").write_text(json.dumps(fake))
    again = sup.up(detached=True)
    assert again["redis"].pid != os.getpid()


def test_a_taken_port_is_a_clear_error(data_dir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        supervisor = build_supervisor(
            _settings(data_dir, redis_port=port, postgres_url="postgresql://x@h/db")
        )
        with pytest.raises(ConfigError) as caught:
            supervisor.up(detached=True)
    assert caught.value.code == "port_in_use"
    assert str(port) in caught.value.message and "DAERT_REDIS_PORT" in caught.value.hint


def test_damaged_postgres_data_is_refused_and_kept(data_dir: Path) -> None:
    supervisor = build_supervisor(_settings(data_dir, redis_url="redis://h:1/0"))
    ensure_data_dir(data_dir)
    (data_dir / "postgres").mkdir()
    (data_dir / "postgres" / "base").write_text("not a cluster")
    with pytest.raises(ServiceError) as caught:
        supervisor.up(detached=True)
    assert caught.value.code == "postgres_data_corrupt"
    assert (data_dir / "postgres" / "base").read_text() == "not a cluster"

    (data_dir / "postgres" / "PG_VERSION").write_text("9\n")
    with pytest.raises(ServiceError) as caught:
        supervisor.up(detached=True)
    assert caught.value.code == "postgres_data_incompatible"


def test_foreign_files_in_the_redis_dir_are_refused(data_dir: Path) -> None:
    ensure_data_dir(data_dir)
    (data_dir / "redis").mkdir()
    (data_dir / "redis" / "important.db").write_text("x")
    supervisor = build_supervisor(_settings(data_dir, postgres_url="postgresql://x@h/db"))
    with pytest.raises(ServiceError) as caught:
        supervisor.up(detached=True)
    assert caught.value.code == "redis_data_foreign"
    assert (data_dir / "redis" / "important.db").exists()


OWNER = """
import sys, time
from pathlib import Path
from daert.services.plan import build_supervisor
from daert.settings import load_settings
s = load_settings(data_dir=Path(sys.argv[1]), local_model=False)
records = build_supervisor(s).up(detached=False)
print(" ".join(str(r.pid) for r in records.values()), flush=True)
time.sleep(600)
"""


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        time.sleep(0.2)
    return alive


def test_services_die_with_a_crashed_owner(data_dir: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    pids = [int(p) for p in line.split()]
    assert len(pids) == 2, line
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _wait_gone(pids) == []
    # The next command finds stale records, cleans them, and starts afresh with the data intact.
    supervisor = build_supervisor(_settings(data_dir))
    try:
        assert all(r is None for r in supervisor.status().values())
        assert supervisor.up(detached=True)["postgres"].pid not in pids
    finally:
        supervisor.down()
