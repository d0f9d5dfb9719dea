"""The hostile arguments of `tests/unit/test_cli_hostile.py`, with every service running.

With nothing running most commands stop at "PostgreSQL is not running"; here the arguments
reach the stores, the sandbox and the model. Every command is tried but those below, so a new
command is covered (or must say here why it cannot be).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest

from core.net import free_port
from tests.conftest import Stack
from tests.support.cli import Runner, daert_runner, hostile_env, no_traceback
from tests.unit.test_cli_hostile import COMMANDS, TIMEOUT, Files, cases, problem

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Cases per command with the stack up: the plausible one and the first hostile ones. The full
# set runs with nothing running (tests/unit/test_cli_hostile.py); all of it here took 40 min.
LIVE_CASES = 3
NOT_HERE = {
    ("up",): "starts services; tried with nothing running",
    ("down",): "would stop the shared stack",
    ("serve",): "serves until stopped; tried with nothing running",
    ("stream-ingest",): "a worker that runs until Ctrl-C",
    ("worker",): "works runs until Ctrl-C; tried with nothing running",
    ("kg", "extract"): "has the model read every chunk of a collection",
    ("cache", "clear"): "would empty the shared cache under other tests",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp("hostile-live")
    (tmp / "work").mkdir()
    (tmp / "folder").mkdir()
    script, doc = tmp / "script.py", tmp / "doc.md"
    script.write_text("print(6 * 7)\n")
    doc.write_text("# Doc\n\nThe Falcon job starts at 02:30.\n")
    return Files(tmp, script, doc, tmp / "folder")


@pytest.fixture(scope="module")
def daert(stack: Stack, files: Files) -> Iterator[Runner]:
    env = hostile_env(os.environ, stack.settings.data_dir)
    name = f"h{uuid.uuid4().hex[:8]}"
    env.update(
        {
            "DAERT_COLLECTION": name,  # what these runs ingest stays out of everyone's way
            "DAERT_WEB_COLLECTION": f"{name}w",
            "DAERT_GRAPH_NAME": name,
            "DAERT_ANSWER_MAX_TOKENS": "16",  # the model's answers are not under test here
            "DAERT_ASSISTANT_TOOLS": '["retrieve"]',
        }
    )
    with daert_runner(env, files.tmp / "work") as runner:
        yield runner


@pytest.mark.parametrize(
    "path", [p for p in COMMANDS if p not in NOT_HERE], ids=lambda p: " ".join(p) or "(global)"
)
def test_hostile_arguments_reach_the_services_and_end_in_a_clear_error(
    path: tuple[str, ...], files: Files, daert: Runner
) -> None:
    command = COMMANDS[path]
    failures = []
    tried = [
        args
        for args in cases(path, command, files)
        if not any(len(a) > 1000 or a.startswith("../") for a in args)
    ]  # long texts and traversal were tried with nothing running; here, time
    for args in tried[:LIVE_CASES]:
        outcome = daert(*args, timeout=3 * TIMEOUT)
        wrong = problem(path, outcome)
        if wrong:
            failures.append(f"{wrong}:\n{outcome}")
    assert not failures, "\n\n".join(failures)


def test_ask_answers_while_an_external_falkordb_refuses_connections(daert: Runner) -> None:
    """Was: a raw redis ConnectionError (a traceback) from the graph client's constructor."""
    env = {
        "DAERT_FALKORDB_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DAERT_ASSISTANT_TOOLS": '["kg"]',
    }
    outcome = daert("ask", "please greet me warmly today", "--json", env=env, timeout=TIMEOUT * 3)
    assert outcome.code == 0 and no_traceback(outcome), str(outcome)
    reply = json.loads(outcome.stdout)
    assert reply["routes"] == ["chat"] and reply["text"].strip()  # answered, without the graph
