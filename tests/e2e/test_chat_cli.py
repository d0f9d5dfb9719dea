"""`daert chat` as a person runs it, while its PostgreSQL goes away and comes back.

A turn that fails on something that is not a daert error (here: the database under the
conversation stops) is reported with a code and a hint, and the conversation goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from agents.testing.openai_double import OpenAIDouble, ok
from daert.services.plan import build_supervisor
from daert.settings import load_settings
from tests.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


class Terminal:
    """A running `daert chat`: type lines, wait for what it prints."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], sink: list[str]) -> None:
        for line in iter(stream.readline, ""):
            sink.append(line)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, text: str, *, where: str = "out", timeout: float = 240) -> None:
        sink = self.out if where == "out" else self.err
        deadline = time.monotonic() + timeout
        while text not in "".join(sink):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{text!r} never came\n{self.transcript()}")
            time.sleep(0.2)

    def transcript(self) -> str:
        return f"--- stdout\n{''.join(self.out)}\n--- stderr\n{''.join(self.err)}"


def test_chat_reports_a_failed_turn_and_goes_on(stack: Stack, tmp_path: Path) -> None:
    with OpenAIDouble(strict=True) as model:
        double = {"chat": [{"model": "openai/double", "api_base": model.url}]}
        env = {
            **os.environ,
            "DAERT_DATA_DIR": str(tmp_path / "data"),
            "DAERT_REDIS_URL": stack.url("redis"),
            "DAERT_MODELS": json.dumps(double),
            "DAERT_MODEL_RETRIES": "0",
            "DAERT_ASSISTANT_TOOLS": "[]",
            "COLUMNS": "200",
        }  # fmt: skip
        # This test's own PostgreSQL, to stop under the conversation (the stack's is shared).
        settings = load_settings(
            data_dir=tmp_path / "data", redis_url=stack.url("redis"), model_url=model.url
        )
        postgres = build_supervisor(settings)
        postgres.up(detached=False)
        chat = Terminal([sys.executable, "-m", "daert", "chat"], env)
        try:
            model.then(ok("Hello one.", expect="please greet me warmly"))
            chat.type("please greet me warmly today")
            chat.wait_for("Hello one.")

            postgres.down()
            chat.type("are you still there, my friend?")
            chat.wait_for("the conversation goes on", where="err")

            postgres.up(detached=False)
            model.then(ok("Hello again.", expect="thanks for waiting"))
            chat.type("thanks for waiting, my friend")
            chat.wait_for("Hello again.")
            chat.type("/exit")
            assert chat.proc.wait(60) == 0, chat.transcript()
        finally:
            if chat.proc.poll() is None:
                chat.proc.kill()
            postgres.down()
        errors = "".join(chat.err)
        assert "error [postgres_unreachable]" in errors and "hint:" in errors, chat.transcript()
        assert "Traceback" not in errors, chat.transcript()
