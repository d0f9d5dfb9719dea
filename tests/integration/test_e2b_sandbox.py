"""The E2B adapter through the real `e2b-code-interpreter` client, against a local E2B double."""

from __future__ import annotations

import base64

import pytest

from agents.testing.e2b_double import E2BDouble, error, result, stderr, stdout
from core.errors import ConfigError
from tools.code_exec.e2b import E2BSandbox

PNG = base64.b64encode(b"\x89PNG fake image").decode()


def sandbox_for(double: E2BDouble, key: str | None = None) -> E2BSandbox:
    return E2BSandbox(key or double.api_key, api_url=double.url, sandbox_url=double.url)


async def test_outputs_are_mapped_like_the_local_sandbox() -> None:
    double = E2BDouble().then(
        [stdout("hi\n"), stderr("careful\n"), result("42"), result(None, png=PNG)],
        [error("ZeroDivisionError", "division by zero", "Traceback...\n  1/0\nZeroDivisionError")],
    )
    with double:
        box = sandbox_for(double)
        done = await box.execute("print('hi'); 6*7")
        assert (done.stdout, done.stderr, done.result) == ("hi\n", "careful\n", "42")
        assert [p.mime for p in done.parts] == ["image/png"] and done.parts[0].data == PNG
        failed = await box.execute("1/0")
        assert failed.error == "ZeroDivisionError: division by zero"
        assert failed.traceback[-1] == "ZeroDivisionError"
    assert list(double.sandboxes.values()) == ["killed", "killed"]  # one-shot sandboxes go


async def test_a_session_keeps_one_sandbox_until_closed() -> None:
    with E2BDouble().then([result("None")], [result("2")]) as double:
        box = sandbox_for(double)
        await box.execute("x = 1", session="s")
        assert (await box.execute("x + 1", session="s")).result == "2"
        assert list(double.sandboxes.values()) == ["running"]
        await box.aclose()
        assert list(double.sandboxes.values()) == ["killed"]
        assert double.executed == ["x = 1", "x + 1"]


async def test_a_wrong_key_is_a_config_error() -> None:
    with E2BDouble() as double, pytest.raises(ConfigError) as caught:
        await sandbox_for(double, key="wrong").execute("1")
    assert caught.value.code == "sandbox_key_invalid"
