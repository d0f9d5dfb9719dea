"""Fixtures for the assistant graph: the real stack, a strict scripted chat model, one assistant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from agents.testing.openai_double import OpenAIDouble
from core.deployments import DeploymentSpec
from daert.settings import Settings, load_settings
from tests.conftest import Stack
from tests.support.assistant import AssistantRuntime, open_assistant

Opener = Callable[..., AbstractAsyncContextManager[AssistantRuntime]]


@pytest.fixture
def model() -> Iterator[OpenAIDouble]:
    """The strict scripted chat model: fails the test on unexpected or unused calls."""
    with OpenAIDouble(strict=True) as double:
        yield double
        double.assert_done()


@pytest.fixture
def collection() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


def assistant_settings(stack: Stack, model: OpenAIDouble, collection: str, **kw: Any) -> Settings:
    spec = DeploymentSpec(model="openai/double", api_base=model.url)
    kw.setdefault("assistant_tools", ["retrieve", "kg", "code"])
    return load_settings(
        data_dir=stack.settings.data_dir,
        models={"chat": [spec]},
        model_retries=0,
        collection=collection,
        web_collection=f"{collection}w",
        graph_name=collection,
        **kw,
    )


@pytest.fixture
def open_runtime(stack: Stack, model: OpenAIDouble, collection: str) -> Opener:
    def opener(**kw: Any) -> AbstractAsyncContextManager[AssistantRuntime]:
        return open_assistant(assistant_settings(stack, model, collection, **kw))

    return opener


@pytest.fixture
async def runtime(open_runtime: Opener) -> AsyncIterator[AssistantRuntime]:
    async with open_runtime() as rt:
        yield rt
