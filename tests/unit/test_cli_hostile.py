"""Every `daert` command and sub-command, with hostile arguments and nothing running.

The commands are read from the Typer app, so a new command is covered without a change here.
Each gets its plausible arguments once (it must then fail with a clear service error, or
succeed), then one argument at a time replaced by something hostile: negative, huge, NaN and
non-numeric numbers, empty strings, path traversal, an id with a slash and a newline, a file
that does not exist, a directory where a file belongs and a file where a directory belongs.
Whatever happens must end in exit code 1 or 2 with an error code and a hint, within a timeout,
and never in a Python traceback or an `internal_error` (a bug).
"""

from __future__ import annotations

import io
import os
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from rich.console import Console

from core.net import free_port
from daert.cli.commands import app
from daert.cli.failures import run_guarded
from tests.support.cli import Outcome, Runner, daert_runner, hostile_env, no_traceback

ROOT = typer.main.get_command(app)
# Would start the embedded services and keep them: tried only with arguments that must fail.
STARTS_SERVICES = {("up",), ("serve",)}
# Global options are tried on a command that needs no service.
GLOBAL_COMMAND = ("status",)
# Exit 1 of these is a report (what is down, each with its fix), not an error.
REPORTS = {("doctor",): "fix:"}
CLEAR_ERROR = re.compile(r"^error \[[a-z0-9_]+\]: .+?\n\s+hint: \S", re.MULTILINE | re.DOTALL)
TIMEOUT = 90  # seconds per run; nothing may wait for a service that is not there


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands or getattr(command, "invoke_without_command", False):
        yield path, command
    for name, sub in (subcommands or {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = {(): ROOT, **dict(_commands(ROOT))}  # (): the global options


@dataclass
class Files:
    """Real things on disk for arguments to point at."""

    tmp: Path
    script: Path
    doc: Path
    folder: Path

    def sample(self, name: str) -> str:
        """A plausible value for an argument, by its name."""
        return {
            "question": "what is daert?", "query": "what is daert?", "prompt": "hello",
            "text": "I like tea.", "alias": "chat", "url": "http://127.0.0.1:9/start",
            "sources": str(self.doc), "files": str(self.script), "thread": "t1",
            "memory_id": "m1",
        }.get(name, "x")  # fmt: skip

    def hostile(self, annotation: Any) -> list[str]:
        kind = _element(annotation)
        if kind is bool:
            return []
        if kind is int:
            return ["-1", "99999999999999999999", "abc"]
        if kind is float:
            return ["-1", "nan", "1e309", "abc"]
        if kind is Path:
            missing = str(self.tmp / "missing" / "nothing.here")
            return ["", missing, str(self.folder), str(self.doc), "x" * 300]
        return ["", "../../../../etc/passwd", "a/b\n", "x" * 5000]


def _element(annotation: Any) -> Any:
    if isinstance(annotation, types.GenericAlias) and annotation.__args__:
        return annotation.__args__[0]
    return annotation


def _plain_args(path: tuple[str, ...], command: Any, files: Files) -> list[str]:
    args = list(path)
    for param in command.params:
        if type(param).__name__ == "TyperArgument" and param.required:
            args.append(files.sample(param.name))
    if path == ("exec",):  # in a server session, so that no sandbox starts
        args += ["--session", "s1", "--server", "http://127.0.0.1:9"]
    return args


def _with(path: tuple[str, ...], command: Any, files: Files, name: str, value: str) -> list[str]:
    """The plain arguments with parameter `name` set to `value`."""
    if not path:  # a global option, on a command that needs no service
        return [_option(command, name), value, *GLOBAL_COMMAND]
    args = list(path)
    for param in command.params:
        if type(param).__name__ != "TyperArgument":
            continue
        if param.name == name:
            args.append(value)
        elif param.required:
            args.append(files.sample(param.name))
    if _is_option(command, name):
        args += [_option(command, name), value]
    if path == ("exec",) and name not in {"session", "server"}:
        args += ["--session", "s1", "--server", "http://127.0.0.1:9"]
    return args


def _is_option(command: Any, name: str) -> bool:
    return any(p.name == name and type(p).__name__ == "TyperOption" for p in command.params)


def _option(command: Any, name: str) -> str:
    param = next(p for p in command.params if p.name == name)
    return str(max(param.opts, key=len))


def cases(path: tuple[str, ...], command: Any, files: Files) -> Iterator[list[str]]:
    if path and path not in STARTS_SERVICES:
        yield _plain_args(path, command, files)
    for param in command.params:
        if param.name in {"version", "install_completion", "show_completion"}:
            continue
        for value in files.hostile(param.type_descriptor.annotation):
            yield _with(path, command, files, param.name, value)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "work").mkdir()
    script = tmp / "script.py"
    script.write_text("print(6 * 7)\n")
    doc = tmp / "doc.md"
    doc.write_text("# Doc\n\nThe Falcon job starts at 02:30.\n")
    folder = tmp / "folder"
    folder.mkdir()
    return Files(tmp, script, doc, folder)


@pytest.fixture(scope="module")
def daert(files: Files) -> Iterator[Runner]:
    env = hostile_env(os.environ, files.tmp / "data")
    with daert_runner(env, files.tmp / "work") as runner:
        yield runner


def problem(path: tuple[str, ...], outcome: Outcome) -> str | None:
    """What is wrong with how this run ended, if anything.

    A value that looks hostile may still be valid (a data dir that does not exist yet): exit 0
    is fine. Anything else must be exit 1 or 2 with a code and a hint.
    """
    clear = bool(CLEAR_ERROR.search(outcome.stderr)) or (
        path in REPORTS and REPORTS[path] in outcome.output
    )
    checks = [
        (outcome.timed_out, "did not end in time: it waits for something that is not there"),
        (not no_traceback(outcome), "printed a Python traceback"),
        ("[internal_error]" in outcome.output, "hit a bug (internal_error)"),
        (outcome.code not in {0, 1, 2}, f"exit code {outcome.code}, not 0, 1 or 2"),
        (outcome.code != 0 and not clear, "no `error [code]: message` with a `hint:` on stderr"),
    ]
    return next((why for failed, why in checks if failed), None)


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "(global)")
def test_hostile_arguments_end_in_a_clear_error(
    path: tuple[str, ...], files: Files, daert: Runner
) -> None:
    command = COMMANDS[path]
    failures = []
    for args in cases(path, command, files):
        outcome = daert(*args, timeout=TIMEOUT)
        wrong = problem(path, outcome)
        if wrong:
            failures.append(f"{wrong}:\n{outcome}")
    assert not failures, "\n\n".join(failures)


def test_every_command_is_tried() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"search", "models usage", "exec", "kg cypher", "cache stats", "memory edit"} <= names
    assert all(
        any(True for _ in cases(p, c, Files(Path(), Path(), Path(), Path())))
        for p, c in COMMANDS.items()
        if p not in STARTS_SERVICES
    )


def dead_services(tmp: Path) -> dict[str, str]:
    """Every service external, on a port where nothing listens: connections are refused."""
    port = free_port()
    return {
        "DAERT_POSTGRES_URL": f"postgresql://daert:secret@127.0.0.1:{port}/daert",
        "DAERT_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "DAERT_FALKORDB_URL": f"redis://127.0.0.1:{port}/1",
        "DAERT_MODEL_URL": f"http://127.0.0.1:{port}/v1",
        "DAERT_DATA_DIR": str(tmp / "external"),
    }


@pytest.mark.parametrize(
    "path",
    [p for p in COMMANDS if p and p != ("serve",)],  # serve would serve (it needs nothing)
    ids=" ".join,
)
def test_external_services_that_refuse_connections_end_in_a_clear_error(
    path: tuple[str, ...], files: Files, daert: Runner
) -> None:
    outcome = daert(
        *_plain_args(path, COMMANDS[path], files), env=dead_services(files.tmp), timeout=TIMEOUT
    )
    wrong = problem(path, outcome)
    assert wrong is None, f"{wrong}:\n{outcome}"


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (["search", "q", "--ef-search", "-1"], "bad_parameter", 2),
        (["search", "q", "--hybrid", "nan"], "bad_parameter", 2),
        (["models", "usage", "--hours", "1e10"], "bad_parameter", 2),
        (["exec", "/proc/self/mem"], "source_unreadable", 2),
        (["exec", "{script}", "--out", "{doc}"], "out_not_a_directory", 2),
        (["exec", "{script}", "--session", "a/b"], "invalid_session", 2),
        (["exec", "{script}", "--session", "ok\n"], "invalid_session", 2),
        (["exec", "{script}", "--timeout", "inf"], "bad_parameter", 2),
        (["ingest", ""], "no_sources", 2),
        (["cache", "stats"], "redis_down", 1),
        (["cache", "clear"], "redis_down", 1),
        (["stream-ingest"], "redis_down", 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_each_reported_mistake_gets_its_code(
    args: list[str], code: str, exit_code: int, files: Files, daert: Runner
) -> None:
    filled = [a.format(script=files.script, doc=files.doc) for a in args]
    outcome = daert(*filled, timeout=TIMEOUT)
    assert (outcome.code, f"[{code}]" in outcome.stderr) == (exit_code, True), str(outcome)
    assert problem(tuple(args[:1]), outcome) is None, str(outcome)


def test_redis_down_is_a_service_error_not_a_usage_error(files: Files, daert: Runner) -> None:
    """`cache` and `stream-ingest` without Redis: exit 1 (a service is down), not 2."""
    env = {"DAERT_POSTGRES_URL": dead_services(files.tmp)["DAERT_POSTGRES_URL"]}
    outcome = daert("stream-ingest", env=env, timeout=TIMEOUT)
    assert outcome.code == 1 and "[redis_down]" in outcome.stderr, str(outcome)
    assert "daert up" in outcome.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_exec_on_a_file_without_read_permission(files: Files, daert: Runner) -> None:
    secret = files.tmp / "secret.py"
    secret.write_text("print(1)")
    secret.chmod(0)
    outcome = daert("exec", str(secret), timeout=TIMEOUT)
    assert outcome.code == 2 and "[source_unreadable]" in outcome.stderr, str(outcome)


def _run(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["daert"])
    shown = io.StringIO()
    with pytest.raises(SystemExit) as done:
        run_guarded(app, Console(file=shown, width=200))
    return int(done.value.code or 0), shown.getvalue()


def test_a_bug_ends_in_one_line_and_its_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bug = typer.Typer()

    @bug.command()
    def boom() -> None:
        raise RuntimeError("something broke")

    code, shown = _run(bug, monkeypatch)
    assert code == 1 and "error [internal_error]: unexpected RuntimeError: something broke" in shown
    found = re.search(r"saved in (\S+)", shown)
    assert found, shown
    saved = Path(found[1])
    assert "RuntimeError: something broke" in saved.read_text()
    saved.unlink()


def test_a_connection_that_escaped_an_adapter_is_a_service_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    escaped = typer.Typer()

    @escaped.command()
    def connect() -> None:
        psycopg.connect(f"postgresql://daert@127.0.0.1:{free_port()}/daert", connect_timeout=5)

    code, shown = _run(escaped, monkeypatch)
    assert code == 1 and "error [postgres_unreachable]" in shown and "daert doctor" in shown
