from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.errors import ServiceError
from daert.services.state import ServiceRecord, StateStore


def _record(pid: int, create_time: float, name: str = "redis") -> ServiceRecord:
    return ServiceRecord(
        name=name,
        pid=pid,
        create_time=create_time,
        port=6400,
        url="redis://:pw@127.0.0.1:6400/0",
        version="8",
        owner_pid=os.getpid(),
        detached=True,
        log_path="/dev/null",
    )


def test_roundtrip_and_last_port(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    me = psutil.Process()
    store.write(_record(me.pid, me.create_time()))
    got = store.read("redis")
    assert got is not None and got.is_alive()
    assert store.last_ports() == {"redis": 6400}
    assert (tmp_path / "redis.json").stat().st_mode & 0o077 == 0  # holds a password
    store.remove("redis")
    assert store.read("redis") is None
    assert store.last_ports() == {"redis": 6400}  # remembered for the next start


def test_dead_or_reused_pid_is_not_alive(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not _record(proc.pid, time.time()).is_alive()
    me = psutil.Process()
    assert not _record(me.pid, me.create_time() - 1000).is_alive()  # same pid, other process


def test_damaged_record_is_set_aside(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    (tmp_path / "redis.json").write_text("{half")
    assert store.read("redis") is None
    assert (tmp_path / "redis.json.bad").exists()


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from daert.services.state import StateStore\n"
            "with StateStore(Path(sys.argv[1])).lock():\n"
            "    print('held', flush=True)\n"
            "    time.sleep(30)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ServiceError) as caught, StateStore(tmp_path).lock(timeout=0.3):
            pass
        assert caught.value.code == "supervisor_busy"
    finally:
        holder.kill()
        holder.wait()
    with StateStore(tmp_path).lock(timeout=5):
        pass
