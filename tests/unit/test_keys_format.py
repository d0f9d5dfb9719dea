"""API keys without a database: the secret's format, parsing, hashing, and what a request sends."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from bots.auth.errors import RateLimited, Unauthorized
from bots.auth.http import credentials, is_local
from bots.auth.keys import check_key_id, generate_secret, hash_secret, parse_secret
from core.errors import InputError

SHAPE = re.compile(r"dk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def test_a_secret_is_the_prefix_the_key_id_and_256_random_bits() -> None:
    pairs = [generate_secret() for _ in range(200)]
    for key_id, secret in pairs:
        assert SHAPE.fullmatch(secret), secret
        assert secret.startswith(f"dk_{key_id}_")
        assert len(secret) == 55
    assert len({s for _, s in pairs}) == 200
    assert len({k for k, _ in pairs}) > 190  # 32 random bits: a clash in 200 is very rare


def test_parse_returns_the_key_id_of_a_well_formed_secret() -> None:
    key_id, secret = generate_secret()
    assert parse_secret(secret) == key_id
    # The random part may itself contain `_` and `-` (URL-safe base64).
    assert parse_secret("dk_0123abcd_" + "_-" * 21 + "A") == "0123abcd"


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "dk_",
        "dk_0123abcd",
        "dk_0123abcd_" + "A" * 42,  # one character short
        "dk_0123abcd_" + "A" * 44,  # one too many
        "dk_0123ABCD_" + "A" * 43,  # the key id is lower-case hex
        "dk_0123abcg_" + "A" * 43,
        "sk_0123abcd_" + "A" * 43,
        "dk_0123abcd_" + "A" * 42 + "=",
        "dk_0123abcd_" + "A" * 43 + "\n",
        " dk_0123abcd_" + "A" * 43,
        "Bearer dk_0123abcd_" + "A" * 43,
    ],
)
def test_parse_refuses_anything_else(malformed: str) -> None:
    assert parse_secret(malformed) is None


def test_the_stored_hash_is_sha256_of_the_whole_secret() -> None:
    assert hash_secret("abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    _, one = generate_secret()
    _, two = generate_secret()
    assert hash_secret(one) != hash_secret(two)
    assert hash_secret(one) == hash_secret(one)


@pytest.mark.parametrize("bad", ["", "3F9A0C1D", "3f9a0c1", "3f9a0c1d0", "3f9a0c1d\n", "../x"])
def test_a_key_id_to_revoke_is_eight_hex_digits(bad: str) -> None:
    assert check_key_id("3f9a0c1d") == "3f9a0c1d"
    with pytest.raises(InputError) as caught:
        check_key_id(bad)
    assert caught.value.code == "invalid_key_id"
    assert "daert keys list" in caught.value.hint


def test_errors_carry_their_status_and_headers() -> None:
    refused = Unauthorized("no key")
    assert (refused.http_status, refused.code) == (401, "unauthorized")
    assert refused.headers == {"WWW-Authenticate": "Bearer"}
    assert "daert keys create --user NAME" in refused.hint

    for wait, header in [(0.001, "1"), (1.0, "1"), (2.1, "3"), (59.5, "60")]:
        limited = RateLimited(wait, limit=10)
        assert (limited.http_status, limited.code) == (429, "rate_limited")
        assert limited.retry_after == wait
        assert limited.headers == {"Retry-After": header}


def request(headers: dict[str, str], client: tuple[str, int] | None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "client": client})


def test_credentials_come_from_bearer_or_x_api_key() -> None:
    local = ("127.0.0.1", 5000)
    assert credentials(request({"Authorization": "Bearer abc"}, local)) == "abc"
    assert credentials(request({"Authorization": "bearer  abc "}, local)) == "abc"
    assert credentials(request({"x-api-key": "xyz"}, local)) == "xyz"
    assert credentials(request({"Authorization": "Basic abc"}, local)) is None
    assert credentials(request({"Authorization": "Bearer "}, local)) is None
    assert credentials(request({}, local)) is None


@pytest.mark.parametrize(
    ("client", "headers", "local"),
    [
        (("127.0.0.1", 1), {}, True),
        (("127.8.9.10", 1), {}, True),
        (("::1", 1), {}, True),
        (("::ffff:127.0.0.1", 1), {}, True),
        (("10.0.0.5", 1), {}, False),
        (("203.0.113.7", 1), {}, False),
        (("::ffff:203.0.113.7", 1), {}, False),
        (("testclient", 1), {}, False),  # not an address: not trusted
        (None, {}, False),
        (("127.0.0.1", 1), {"X-Forwarded-For": "203.0.113.7"}, False),  # a proxy on this host
        (("127.0.0.1", 1), {"Forwarded": "for=203.0.113.7"}, False),
    ],
)
def test_only_a_direct_client_on_this_machine_is_local(
    client: tuple[str, int] | None, headers: dict[str, str], local: bool
) -> None:
    assert is_local(request(headers, client)) is local
