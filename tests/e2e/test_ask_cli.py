"""`daert ask`, `threads` and `memory` as a person runs them, on the embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def daert(stack: Stack, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daert", "--data-dir", str(stack.settings.data_dir), *args],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env},
    )  # fmt: skip


def ask(stack: Stack, question: str, *extra: str, env: dict[str, str]) -> dict[str, Any]:
    done = daert(stack, "ask", question, "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    reply: dict[str, Any] = json.loads(done.stdout)
    return reply


def test_ask_answers_with_the_local_model_and_cites_the_ingested_file(
    stack: Stack, tmp_path: Path
) -> None:
    env = {
        "DAERT_COLLECTION": f"e{uuid.uuid4().hex[:8]}",
        "DAERT_ASSISTANT_TOOLS": '["retrieve"]',
        "DAERT_ANSWER_MAX_TOKENS": "48",
    }
    doc = tmp_path / "falcon.md"
    doc.write_text(
        "# Falcon runbook\n\nThe Falcon batch job starts at 02:30 UTC every night and "
        "writes its reports to the bucket falcon-reports.\n"
    )
    ingested = daert(stack, "ingest", str(doc), env=env)
    assert ingested.returncode == 0, ingested.stderr

    reply = ask(stack, "When does the Falcon batch job start?", env=env)
    assert reply["routes"] == ["retrieve"]
    assert reply["text"].strip(), "the local model produced an answer"
    assert [c["ref"] for c in reply["citations"]] == [str(doc)]

    unknown = ask(stack, "Who won the chess olympiad in 1927?", env=env)
    assert unknown["text"].startswith("I don't know")
    assert unknown["citations"] == []

    stats = daert(stack, "cache", "stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["misses"] >= 1  # the first question was looked up

    thread = reply["thread_id"]
    shown = daert(stack, "threads", "show", thread, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "When does the Falcon batch job start?" in shown.stdout
    assert str(doc) in shown.stdout

    foreign = daert(stack, "ask", "hello", "--thread", thread, "--user", "mallory", env=env)
    assert foreign.returncode == 2
    assert "thread_forbidden" in foreign.stderr

    listed = daert(stack, "threads", "list", env={**env, "COLUMNS": "200"})
    assert thread in listed.stdout, listed.stdout
    deleted = daert(stack, "threads", "delete", thread, env=env)
    assert deleted.returncode == 0, deleted.stderr
    after = daert(stack, "threads", "show", thread, env=env)
    assert after.returncode == 2 and "thread_not_found" in after.stderr


def test_memory_commands_edit_what_the_assistant_knows(stack: Stack) -> None:
    env = {"DAERT_ASSISTANT_TOOLS": "[]"}
    user = f"u{uuid.uuid4().hex[:6]}"
    added = daert(stack, "memory", "add", "I prefer answers in French.", "--user", user, env=env)
    assert added.returncode == 0, added.stderr
    listed = daert(stack, "memory", "list", "--user", user, "--json", env=env)
    [item] = json.loads(listed.stdout)
    assert item["text"] == "I prefer answers in French."
    missing = daert(stack, "memory", "delete", "nope", "--user", user, env=env)
    assert missing.returncode == 2 and "memory_not_found" in missing.stderr
    gone = daert(stack, "memory", "delete", item["id"], "--user", user, env=env)
    assert gone.returncode == 0, gone.stderr
    assert (
        json.loads(daert(stack, "memory", "list", "--user", user, "--json", env=env).stdout) == []
    )
