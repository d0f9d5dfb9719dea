"""The BlobStore contract, on PostgreSQL (through a pool like the runtime's) and the twin."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import pytest

from core.errors import InputError
from daert.pool import open_pool
from memory.blobs import BlobStore, MemoryBlobStore, PostgresBlobStore, blob_ref
from tests.conftest import Stack


@pytest.fixture(params=["postgres", "memory"])
async def blobs(request: pytest.FixtureRequest) -> AsyncIterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
        return
    stack: Stack = request.getfixturevalue("stack")
    async with contextlib.AsyncExitStack() as exits:
        store = PostgresBlobStore(await open_pool(exits, stack.settings, stack.url("postgres")))
        await store.setup()
        yield store


@pytest.mark.slow
async def test_a_blob_reads_back_by_its_content_reference(blobs: BlobStore) -> None:
    data = os.urandom(4096) + b"\x00\xff"  # binary, NUL included
    ref = await blobs.put("image/png", data)
    assert ref == blob_ref(data) and ref.startswith("blob:")
    blob = await blobs.get(ref)
    assert (blob.mime, blob.data) == ("image/png", data)
    assert await blobs.put("image/png", data) == ref  # the same bytes: the same blob


@pytest.mark.slow
async def test_an_unknown_reference_is_a_clear_error(blobs: BlobStore) -> None:
    with pytest.raises(InputError) as caught:
        await blobs.get(blob_ref(os.urandom(16)))
    assert caught.value.code == "blob_not_found"
