"""API keys: each belongs to one daert user; only a SHA-256 of the secret is stored.

A secret reads `dk_<key id>_<random>`: the key id (8 hex digits) is public and names the key in
`daert keys list` and logs; the random part (43 URL-safe characters, 256 bits) is the secret.
Such a secret is too random to guess, so one unsalted SHA-256 is enough to store it (a slow
password hash would only slow every request down).

    store = KeyStore(pool)
    await store.setup()
    info, secret = await store.create("alice@example.com", name="laptop")
    principal = await store.authenticate(secret)  # Principal(user_id="alice@example.com", ...)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.errors import UniqueViolation

from core.errors import require_match
from core.migrations import migrate
from memory.longterm import check_user

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

PREFIX = "dk"
SECRET = re.compile(r"dk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
KEY_ID = re.compile(r"[0-9a-f]{8}")
NAME = re.compile(r"[^\x00-\x1f\x7f]{0,120}")
# last_used_at is bookkeeping: written at most this often per key, not on every request.
TOUCH_EVERY_S = 60

KEY_MIGRATIONS = [
    """CREATE TABLE daert_api_keys (
        key_id text PRIMARY KEY,
        secret_sha256 bytea NOT NULL UNIQUE,
        user_id text NOT NULL,
        admin boolean NOT NULL DEFAULT false,
        name text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
    )""",
    "CREATE INDEX daert_api_keys_user ON daert_api_keys (user_id, created_at)",
]


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. `key_id` None: the open loopback default user (no key sent)."""

    user_id: str
    admin: bool
    key_id: str | None


@dataclass(frozen=True)
class KeyInfo:
    """A key as `daert keys list` shows it: never its secret."""

    key_id: str
    user_id: str
    admin: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def generate_secret() -> tuple[str, str]:
    """A new (key id, secret) pair; the secret embeds the key id."""
    key_id = secrets.token_hex(4)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def parse_secret(secret: str) -> str | None:
    """The key id of a well-formed secret, else None (not worth a database query)."""
    found = SECRET.fullmatch(secret)
    return found.group(1) if found else None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def check_key_id(key_id: str) -> str:
    return require_match(
        KEY_ID, key_id, what="key id", code="invalid_key_id",
        hint="a key id is 8 hex digits, as `daert keys list` shows it (e.g. 3f9a0c1d)",
    )  # fmt: skip


def check_key_name(name: str) -> str:
    return require_match(
        NAME, name, what="key name", code="invalid_key_name",
        hint="a key name is at most 120 characters without control characters, e.g. laptop",
    )  # fmt: skip


class KeyStore:
    """API keys in PostgreSQL, on the process's one (autocommit) pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await migrate(conn, "keys", KEY_MIGRATIONS)

    async def create(
        self, user_id: str, *, admin: bool = False, name: str = ""
    ) -> tuple[KeyInfo, str]:
        """A new key for `user_id`: its info and its secret, which is not kept and so is
        returned this once."""
        check_user(user_id)
        check_key_name(name)
        for _ in range(5):  # a key id is 32 random bits: a clash is rare, and retried
            key_id, secret = generate_secret()
            try:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(
                        "INSERT INTO daert_api_keys (key_id, secret_sha256, user_id, admin, name) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING key_id, user_id, admin, name, "
                        "created_at, last_used_at, revoked_at",
                        (key_id, hash_secret(secret), user_id, admin, name),
                    )
                    inserted = await cur.fetchall()
            except UniqueViolation:
                continue
            return KeyInfo(*inserted[0]), secret
        raise RuntimeError("five random key ids in a row were taken")  # pragma: no cover

    async def list(self, user_id: str | None = None) -> list[KeyInfo]:
        """Every key (revoked ones too), or one user's, oldest first."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT key_id, user_id, admin, name, created_at, last_used_at, revoked_at "
                "FROM daert_api_keys WHERE %(u)s::text IS NULL OR user_id = %(u)s "
                "ORDER BY created_at, key_id",
                {"u": user_id},
            )
            rows = await cur.fetchall()
        return [KeyInfo(*row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key at once; False when no active key has this id."""
        check_key_id(key_id)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE daert_api_keys SET revoked_at = now() "
                "WHERE key_id = %s AND revoked_at IS NULL RETURNING key_id",
                (key_id,),
            )
            return await cur.fetchone() is not None

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal of an active key with this secret, else None. One query, which also
        records the use (at most once a minute per key)."""
        key_id = parse_secret(secret)
        if key_id is None:
            return None
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                """WITH found AS (
                    SELECT key_id, user_id, admin, last_used_at FROM daert_api_keys
                    WHERE secret_sha256 = %(hash)s AND key_id = %(id)s AND revoked_at IS NULL
                ), touched AS (
                    UPDATE daert_api_keys k SET last_used_at = now() FROM found
                    WHERE k.key_id = found.key_id AND (found.last_used_at IS NULL
                        OR found.last_used_at < now() - make_interval(secs => %(every)s))
                )
                SELECT user_id, admin FROM found""",
                {"hash": hash_secret(secret), "id": key_id, "every": TOUCH_EVERY_S},
            )
            row = await cur.fetchone()
        return Principal(user_id=row[0], admin=row[1], key_id=key_id) if row else None

    async def any_active(self) -> bool:
        """Whether any key is active (then nobody gets in without one)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM daert_api_keys WHERE revoked_at IS NULL)"
            )
            row = await cur.fetchone()
        return bool(row and row[0])
