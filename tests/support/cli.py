"""Run the real `daert` command many times, fast: one process imports it once, then forks.

Each invocation is a process of its own (`os.fork` of an idle parent that has imported the CLI
and what its commands load), with its own arguments, environment, working directory, stdout,
stderr and exit code, a closed stdin, and a timeout after which its whole process group is
killed. What it runs is `daert.cli.commands.run`, the console script's entry point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_PARENT = r"""
import json, os, signal, sys, tempfile, threading, time, traceback

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import daert.cli.commands as commands
import agents.gateway, daert.assembly, graphs.assistant.graph  # what most commands load
import langgraph.checkpoint.postgres.aio, langgraph.store.postgres.aio
import knowledge.graph.falkordb, memory.semantic_cache.redis
assert threading.active_count() == 1, threading.enumerate()  # forking is safe

replies = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)


def child(request, out, err):
    os.setpgid(0, 0)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.stdin = open(0, closefd=False)  # not the parent's buffer of requests
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.argv = ["daert", *request["args"]]
    code = 0
    try:
        commands.run()
    except SystemExit as done:
        if isinstance(done.code, int) or done.code is None:
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
            code = 1
    except BaseException:  # what `python -m daert` would print before dying
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


for line in sys.stdin:
    request = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            child(request, out, err)
        deadline = time.monotonic() + request["timeout"]
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.01)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever it left behind
        except ProcessLookupError:
            pass
        out.seek(0)
        err.seek(0)
        reply = {
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
            "timed_out": timed_out,
        }
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
"""


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"daert {' '.join(_short(a) for a in self.args)} -> exit {self.code}"
            f"{' (timed out)' if self.timed_out else ''}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


def _short(arg: str) -> str:
    return repr(arg) if len(arg) <= 80 else f"{arg[:20]!r}...({len(arg)} chars)"


class Runner:
    def __init__(self, parent: subprocess.Popen[str], env: Mapping[str, str], cwd: Path) -> None:
        self._parent = parent
        self.env = dict(env)
        self.cwd = cwd

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> Outcome:
        assert self._parent.stdin is not None and self._parent.stdout is not None
        request = {
            "args": list(args),
            "env": {**self.env, **(env or {})},
            "cwd": str(self.cwd),
            "timeout": timeout,
        }
        self._parent.stdin.write(json.dumps(request) + "\n")
        self._parent.stdin.flush()
        line = self._parent.stdout.readline()
        if not line:
            raise RuntimeError("the daert runner died")
        reply = json.loads(line)
        return Outcome(
            tuple(args), reply["code"], reply["stdout"], reply["stderr"], reply["timed_out"]
        )


@contextmanager
def daert_runner(env: Mapping[str, str], cwd: Path) -> Iterator[Runner]:
    """A `Runner`: call it with `daert`'s arguments to get an `Outcome`."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        cwd=cwd,
    )
    try:
        yield Runner(parent, env, cwd)
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        try:
            parent.wait(30)
        except subprocess.TimeoutExpired:
            parent.kill()
            parent.wait()


def hostile_env(base: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    """The environment for runs with nothing running: no keys, no network probes."""
    dropped = {"E2B_API_KEY", "TAVILY_API_KEY", "DDGS_PROXY"}
    env = {k: v for k, v in base.items() if not k.startswith("DAERT_") and k not in dropped}
    env.update({"DAERT_DATA_DIR": str(data_dir), "DAERT_WEB_SEARCH": "index", "COLUMNS": "200"})
    return env


def no_traceback(outcome: Outcome) -> bool:
    return "Traceback (most recent call last)" not in outcome.output


__all__: Sequence[str] = ["Outcome", "Runner", "daert_runner", "hostile_env", "no_traceback"]
