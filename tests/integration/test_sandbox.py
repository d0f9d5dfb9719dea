"""The local sandbox for real: results, sessions, rich outputs, and every abuse case contained."""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.errors import InputError
from tools.code_exec.bubblewrap import LocalSandbox
from tools.code_exec.ports import SandboxLimits

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(
    timeout=20,
    memory_bytes=2 * 1024**3,
    workspace_bytes=16 * 1024**2,
    file_bytes=32 * 1024**2,
    processes=200,
    max_output_bytes=64 * 1024,
)


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[LocalSandbox]:
    box = LocalSandbox(LIMITS)
    yield box
    await box.aclose()


async def test_results_state_and_errors(sandbox: LocalSandbox) -> None:
    assert (await sandbox.execute("1+1")).result == "2"
    await sandbox.execute("x = 41", session="s1")
    again = await sandbox.execute(
        "print('out'); import sys; print('err', file=sys.stderr); x+1", session="s1"
    )
    assert (again.result, again.stdout, again.stderr) == ("42", "out\n", "err\n")
    assert again.session == "s1"
    failed = await sandbox.execute("1/0", session="s1")
    assert failed.error == "ZeroDivisionError: division by zero"
    assert any("1/0" in line for line in failed.traceback)
    assert (await sandbox.execute("x", session="s1")).result == "41"  # state survives an error


async def test_rich_outputs(sandbox: LocalSandbox) -> None:
    plot = await sandbox.execute(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"
    )
    assert plot.ok, plot.traceback
    [png] = [p for p in plot.parts if p.mime == "image/png"]
    assert base64.b64decode(png.data).startswith(b"\x89PNG")
    table = await sandbox.execute("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': [3, 4]})")
    assert any(p.mime == "text/html" and "<table" in p.data for p in table.parts)


async def test_files_in_and_out(sandbox: LocalSandbox) -> None:
    await sandbox.upload("files", "data/in.csv", b"a,b\n1,2\n")
    done = await sandbox.execute(
        "import pandas as pd\nd = pd.read_csv('data/in.csv')\nd['c'] = d.a + d.b\n"
        "d.to_csv('out.csv', index=False)", session="files",
    )  # fmt: skip
    assert done.ok, done.traceback
    assert await sandbox.download("files", "out.csv") == b"a,b,c\n1,2,3\n"
    for bad in ["../escape", "/etc/passwd", ""]:
        with pytest.raises(InputError):
            await sandbox.upload("files", bad, b"x")
    with pytest.raises(InputError):
        await sandbox.download("files", "missing.txt")


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host's loopback that the sandbox must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    hits: list[int] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            hits.append(1)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    assert hits == [], "the sandbox reached the host"


async def test_no_network_at_all(sandbox: LocalSandbox, host_server: int) -> None:
    for target in [("127.0.0.1", host_server), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
        done = await sandbox.execute(
            f"import socket\ns = socket.socket(); s.settimeout(3)\ns.connect({target!r})"
        )
        assert done.error is not None and done.error.startswith(
            ("ConnectionRefusedError", "OSError")
        )


async def test_host_files_are_invisible_and_the_system_read_only(sandbox: LocalSandbox) -> None:
    for path in ["/etc/shadow", str(ROOT / "pyproject.toml"), "/root/.bashrc"]:
        done = await sandbox.execute(f"open({path!r}).read()")
        assert done.error is not None and "FileNotFoundError" in done.error, path
    for path in ["/usr/evil", str(ROOT / ".venv" / "evil"), "/bin/evil"]:
        done = await sandbox.execute(f"open({path!r}, 'w').write('x')")
        assert done.error is not None and ("Read-only" in done.error or "Permission" in done.error)
    assert not (ROOT / ".venv" / "evil").exists()
    who = await sandbox.execute("import os; os.getuid(), os.getcwd()")
    assert (
        who.result is not None and "'/workspace'" in who.result and not who.result.startswith("(0,")
    )


async def test_fork_bomb_is_stopped(sandbox: LocalSandbox) -> None:
    done = await sandbox.execute(
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n        n += 1\nexcept OSError as e:\n"
        "    print('stopped after', n, type(e).__name__)",
        session="bomb",
    )
    assert "stopped after" in done.stdout
    assert int(done.stdout.split()[2]) < LIMITS.processes
    await sandbox.close("bomb")  # its sleeping children go with it
    assert (await sandbox.execute("2+2")).result == "4"


async def test_memory_bomb_is_a_memory_error(sandbox: LocalSandbox) -> None:
    done = await sandbox.execute("b = bytearray(8 * 1024**3)")
    assert done.error is not None and done.error.startswith("MemoryError")


async def test_infinite_loop_is_interrupted_and_the_session_lives(sandbox: LocalSandbox) -> None:
    await sandbox.execute("y = 7", session="loop")
    done = await sandbox.execute("while True: pass", session="loop", timeout=2)
    assert done.timed_out and done.error is not None and "TimeoutError" in done.error
    assert (await sandbox.execute("y", session="loop")).result == "7"


async def test_killing_its_parent_or_init_does_not_hurt_the_host(sandbox: LocalSandbox) -> None:
    done = await sandbox.execute(
        "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(e)"
    )
    assert done.error is None or "Sandbox" in done.error
    assert (await sandbox.execute("3+3")).result == "6"


async def test_huge_output_is_capped(sandbox: LocalSandbox) -> None:
    done = await sandbox.execute("for _ in range(200): print('x' * 10000)")
    assert done.truncated
    assert len(done.stdout) <= LIMITS.max_output_bytes


async def test_filling_the_disk_stops_at_the_workspace(sandbox: LocalSandbox) -> None:
    done = await sandbox.execute(
        "n = 0\ntry:\n    with open('fill.bin', 'wb') as f:\n        while True:\n"
        "            f.write(b'0' * 1024**2); f.flush(); n += 1\nexcept OSError as e:\n"
        "    print(n, e.errno)"
    )
    assert done.ok, done.traceback
    written, errno = (int(x) for x in done.stdout.split())
    assert written <= LIMITS.workspace_bytes // 1024**2
    assert errno in {28, 27}  # ENOSPC (tmpfs full) or EFBIG (file size limit)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user exists only when daert is root")
async def test_an_interpreter_in_a_private_home_works_and_the_home_stays_private(
    tmp_path: Path,
) -> None:
    """Python under a 0700 home (pyenv, uv, conda as root) runs sandboxed; nothing is loosened."""
    home = tmp_path / "home"
    (home / "lib").mkdir(parents=True)
    home.chmod(0o700)
    (home / "lib" / "marker.txt").write_text("reachable")
    box = LocalSandbox(LIMITS)
    box.roots = [*box.roots, home / "lib"]
    try:
        done = await box.execute(
            f"import os\nprint(open({str(home / 'lib' / 'marker.txt')!r}).read())\n"
            "status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines()"
            " if ':\\t' in l)\n"
            "print(os.getuid() != 0, status['CapEff'].strip(), status['CapPrm'].strip(),"
            " status['CapBnd'].strip(), status['CapAmb'].strip(), status['NoNewPrivs'].strip())"
        )
    finally:
        await box.aclose()
    assert done.ok, done.traceback
    zero = "0000000000000000"
    assert done.stdout.splitlines() == ["reachable", f"True {zero} {zero} {zero} {zero} 1"]
    assert home.stat().st_mode & 0o777 == 0o700
