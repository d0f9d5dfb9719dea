"""Rich outputs of runs (plots, tables) stored once, by content, and referenced everywhere else.

A sandbox image is kept out of checkpoints and events: they carry `blob:<sha256>`, and a
surface that shows the image reads it back here. Storing the same bytes twice is one row.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from core.errors import InputError
from core.migrations import migrate

REF = re.compile(r"blob:[0-9a-f]{64}")
MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS daert_blobs (
        id text PRIMARY KEY,
        mime text NOT NULL,
        data bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]


@dataclass(frozen=True)
class Blob:
    ref: str
    mime: str
    data: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode()


def blob_ref(data: bytes) -> str:
    return f"blob:{hashlib.sha256(data).hexdigest()}"


class BlobStore(Protocol):
    async def put(self, mime: str, data: bytes) -> str:
        """Store `data`; its reference (the same for the same bytes)."""
        ...

    async def get(self, ref: str) -> Blob:
        """The blob `ref` names; InputError `blob_not_found` if none."""
        ...


class PostgresBlobStore:
    """`daert_blobs` in PostgreSQL, through the runtime's pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await migrate(conn, "blobs", MIGRATIONS)

    async def put(self, mime: str, data: bytes) -> str:
        ref = blob_ref(data)
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO daert_blobs (id, mime, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (ref, mime, data),
            )
        return ref

    async def get(self, ref: str) -> Blob:
        if not REF.fullmatch(ref):
            raise InputError(f"invalid blob reference {ref[:80]!r}",
                             hint="references look like blob:<64 hex digits>",
                             code="invalid_blob_ref")  # fmt: skip
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT mime, data FROM daert_blobs WHERE id = %s", (ref,))
            ).fetchone()
        if row is None:
            raise InputError(f"no blob {ref}", hint="it may have been pruned",
                             code="blob_not_found")  # fmt: skip
        return Blob(ref, str(row[0]), bytes(row[1]))


class MemoryBlobStore:
    """An in-process twin for unit tests (the contract suite runs both)."""

    def __init__(self) -> None:
        self._blobs: dict[str, Blob] = {}

    async def put(self, mime: str, data: bytes) -> str:
        ref = blob_ref(data)
        self._blobs.setdefault(ref, Blob(ref, mime, data))
        return ref

    async def get(self, ref: str) -> Blob:
        if ref not in self._blobs:
            raise InputError(f"no blob {ref}", hint="it may have been pruned",
                             code="blob_not_found")  # fmt: skip
        return self._blobs[ref]
