"""`daert keys` as an operator runs it, on the embedded stack; the secret it prints is checked
against the store the server reads."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from bots.auth.keys import KeyStore, Principal, parse_secret
from daert.pool import open_pool
from tests.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def daert(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daert", "--data-dir", str(stack.settings.data_dir), *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.fixture
async def keys(stack: Stack) -> AsyncIterator[KeyStore]:
    """The stack's own key store; every key of the test user is revoked afterwards, so that
    other tests on this stack still find loopback open."""
    async with contextlib.AsyncExitStack() as exits:
        store = KeyStore(await open_pool(exits, stack.settings, stack.url("postgres")))
        await store.setup()
        yield store


async def test_create_list_revoke(stack: Stack, keys: KeyStore) -> None:
    user = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    try:
        made = daert(stack, "keys", "create", "--user", user, "--name", "ci", "--json")
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        secret, key_id = created["secret"], created["key_id"]
        assert parse_secret(secret) == key_id
        assert (created["user_id"], created["admin"], created["name"]) == (user, False, "ci")
        assert await keys.authenticate(secret) == Principal(user, False, key_id)

        # Human output: the secret alone on stdout (a script captures it), the warning apart.
        plain = daert(stack, "keys", "create", "--user", user, "--admin")
        assert plain.returncode == 0, plain.stderr
        other = plain.stdout.strip()
        assert parse_secret(other) is not None and other != secret
        assert "not shown again" in plain.stderr
        assert await keys.authenticate(other) == Principal(user, True, parse_secret(other))

        listed = daert(stack, "keys", "list", "--user", user, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert {r["key_id"] for r in rows} == {key_id, parse_secret(other)}
        assert secret not in listed.stdout and other not in listed.stdout
        assert "secret" not in rows[0]

        revoked = daert(stack, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        assert await keys.authenticate(secret) is None
        assert await keys.authenticate(other) is not None  # only the one revoked

        table = daert(stack, "keys", "list", "--user", user)
        assert table.returncode == 0, table.stderr
        assert key_id in table.stdout and "revoked" in table.stdout

        again = daert(stack, "keys", "revoke", key_id)
        assert again.returncode == 2
        assert "[key_not_found]" in again.stderr and "daert keys list" in again.stderr
        bad = daert(stack, "keys", "create", "--user", "")
        assert bad.returncode == 2 and "[invalid_user_id]" in bad.stderr
    finally:
        for info in await keys.list(user):
            if info.active:
                await keys.revoke(info.key_id)
