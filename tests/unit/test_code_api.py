"""`/v1/code/*` with the server's real sandbox factory: 503 with the fix, 400 for bad requests.

Ids are checked against their whole pattern: a trailing newline is not a valid name.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import InputError, require_match
from daert.adapters import build_sandbox
from daert.app import create_app
from daert.code_api import code_router
from daert.settings import load_settings
from graphs.assistant.history import THREAD_ID
from knowledge.graph.ports import check_label, check_rel_type
from knowledge.vector.pgvector import COLLECTION_NAME
from memory.longterm import check_user
from tools.code_exec.bubblewrap import LocalSandbox
from tools.code_exec.ports import CodeSandbox, SandboxLimits, check_session_name, checked_timeout

ROUTES = [
    ("POST", "/v1/code/execute", {"code": "1 + 1"}),
    ("POST", "/v1/code/sessions/s1/execute", {"code": "1 + 1"}),
    ("DELETE", "/v1/code/sessions/s1", None),
]


def client(sandbox: Callable[[], CodeSandbox]) -> TestClient:
    app = create_app(list, routers=[code_router(sandbox)])
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], CodeSandbox]:
    """The factory `daert serve` uses, on this machine's sandbox (no E2B key)."""
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    settings = load_settings(data_dir=tmp_path / "data", code_max_timeout=60)
    return lambda: build_sandbox(settings)


def test_without_bubblewrap_the_code_routes_answer_503_with_the_fix(
    local: Callable[[], CodeSandbox], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no bwrap on it
    api = client(local)
    for method, url, body in ROUTES:
        response = api.request(method, url, json=body)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "sandbox_unavailable"
        assert "apt-get install bubblewrap" in error["hint"]


def test_without_the_sandbox_extra_the_code_routes_answer_503_with_the_fix(
    local: Callable[[], CodeSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel", None)  # as if it were not installed
    for method, url, body in ROUTES:
        response = client(local).request(method, url, json=body)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert (error["code"], "`sandbox` extra" in error["hint"]) == ("sandbox_unavailable", True)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_request_cannot_hold_a_session_longer_than_the_configured_bound(
    local: Callable[[], CodeSandbox],
) -> None:
    boxes: list[CodeSandbox] = []

    def sandbox() -> CodeSandbox:
        if not boxes:
            boxes.append(local())
        return boxes[0]

    api = client(sandbox)
    for timeout in (3600, 61):
        response = api.post("/v1/code/sessions/s1/execute", json={"code": "1", "timeout": timeout})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "timeout_out_of_range"
        assert "60" in error["message"] and "DAERT_CODE_MAX_TIMEOUT" in error["hint"]
    [box] = boxes
    assert isinstance(box, LocalSandbox) and not box._kernels  # refused before a session began
    for bad in ("NaN", "Infinity", "0", "-1"):
        raw = f'{{"code": "1", "timeout": {bad}}}'
        headers = {"content-type": "application/json"}
        response = api.post("/v1/code/execute", content=raw, headers=headers)
        assert response.status_code == 422, (bad, response.text)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, 120.5])
def test_execution_timeouts_are_bounded(timeout: float) -> None:
    with pytest.raises(InputError) as caught:
        checked_timeout(SandboxLimits(max_timeout=120), timeout)
    assert caught.value.code == "timeout_out_of_range"


def test_the_default_timeout_stays_within_the_bound() -> None:
    assert checked_timeout(SandboxLimits(timeout=30, max_timeout=120), None) == 30
    assert checked_timeout(SandboxLimits(timeout=30, max_timeout=10), None) == 10
    assert checked_timeout(SandboxLimits(max_timeout=120), 120) == 120


def test_the_session_path_refuses_a_trailing_newline() -> None:
    response = client(lambda: pytest.fail("no sandbox for a bad name")).post(
        "/v1/code/sessions/s1%0A/execute", json={"code": "1"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_session"


def _pattern(pattern: re.Pattern[str]) -> Callable[[str], str]:
    return lambda value: require_match(pattern, value, what="id", hint="h", code="invalid_id")


@pytest.mark.parametrize(
    ("check", "valid"),
    [
        (check_session_name, "s1"),
        (_pattern(THREAD_ID), "thread-1"),
        (_pattern(COLLECTION_NAME), "docs"),
        (check_label, "Person"),
        (check_rel_type, "WORKS_FOR"),
        (check_user, "alice@example.com"),
    ],
    ids=["session", "thread", "collection", "label", "relation", "user"],
)
def test_ids_are_checked_whole_a_trailing_newline_is_refused(
    check: Callable[[str], str], valid: str
) -> None:
    assert check(valid) == valid
    for bad in (f"{valid}\n", f"\n{valid}", ""):
        with pytest.raises(InputError):
            check(bad)
