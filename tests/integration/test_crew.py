"""The research crew: real CrewAI agents, our real gateway (LiteLLM) and a scripted OpenAI double.

The double plays the model in CrewAI's ReAct text format (a custom LLM gets no native tool
calling); knowledge is searched in the real PostgreSQL knowledge base with the real local
embedder; the web is a stand-in for the search engine (its real adapters have their own tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.crew import CrewResult, CrewTimeout, Source, run_research_crew
from agents.crew.llm import load_crewai
from agents.embeddings.local import LocalMiniLM
from agents.gateway import ModelGateway, resolve
from agents.gateway.errors import ModelUnavailable
from agents.testing.openai_double import OpenAIDouble, fail, ok, slow
from core.deployments import DeploymentSpec
from core.errors import ConfigError, ServiceError
from knowledge.vector.pgvector import PgVectorStore
from knowledge.vector.ports import Chunk, DocumentRecord
from tools.web_search.ports import WebResult

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai"),
    pytest.mark.filterwarnings("ignore:Cannot set an attribute on 'crewai:ImportWarning"),
]

TASK = "Write a short note on Ada Lovelace and the {Analytical Engine}."
NOTES = "Ada wrote the first published program [1], for Babbage's engine [2]."
ANSWER = "# Ada Lovelace\n\nShe wrote the first published program [1] for the engine [2]."


def act(tool: str, query: str) -> str:
    return (
        f"Thought: I should search.\nAction: {tool}\nAction Input: {json.dumps({'query': query})}"
    )


def final(text: str) -> str:
    return f"Thought: I now know the final answer\nFinal Answer: {text}"


class RecordingEmbedder:
    """The real local embedder, noting what it was asked to embed."""

    def __init__(self, inner: LocalMiniLM) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.texts: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return await self.inner.embed(texts)


class TwinWeb:
    name = "twin"

    def __init__(self, results: list[WebResult] | None = None, error: Exception | None = None):
        self.results = results or []
        self.error = error
        self.queries: list[str] = []

    async def search(self, query: str, *, k: int = 5) -> list[WebResult]:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.results[:k]


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crewai")


def scripted(double: OpenAIDouble) -> ModelGateway:
    spec = DeploymentSpec(model="openai/double", api_base=double.url)
    return ModelGateway(
        resolve({"crew": [spec]}, local_url=None, default_timeout=10, env=os.environ), retries=0
    )


def messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return list(request["body"]["messages"])


def said(request: dict[str, Any]) -> str:
    return "\n".join(str(m["content"]) for m in messages(request))


async def knowledge(store: PgVectorStore) -> tuple[RecordingEmbedder, str]:
    """A collection of its own in the real knowledge base, with one note about Ada."""
    embedder = RecordingEmbedder(LocalMiniLM())
    collection = f"crew_{uuid.uuid4().hex[:8]}"
    await store.ensure_collection(collection, embedder.name, embedder.dimension)
    [vector] = await embedder.inner.embed(
        ["Ada Lovelace wrote the first published program in 1843."]
    )
    await store.replace_document(
        collection,
        DocumentRecord("notes/ada.md", "h1", title="Ada notes"),
        [Chunk(0, "Ada Lovelace wrote the first published program in 1843.", vector)],
    )
    return embedder, collection


@pytest.mark.slow
async def test_researcher_searches_then_writer_answers_with_sources(
    storage: Path, store: PgVectorStore
) -> None:
    embedder, collection = await knowledge(store)
    page = WebResult("The Analytical Engine", "https://example.org/engine", "snippet",
                     "Babbage designed the Analytical Engine.", 0.9, "twin")  # fmt: skip
    web = TwinWeb([page])
    script = [
        ok(act("search_knowledge", "Ada Lovelace program")),
        ok(act("search_web", "Analytical Engine")),
        ok(final(NOTES)),
        ok(final(ANSWER)),
    ]
    with OpenAIDouble(default=fail(500, "unexpected call")).then(*script) as double:
        result = await run_research_crew(
            TASK, gateway=scripted(double), alias="crew", embedder=embedder, store=store,
            collection=collection, web=web, max_iterations=4, storage_dir=storage,
        )  # fmt: skip

    assert result == CrewResult(
        text=ANSWER,
        sources=[
            Source("chunk", "notes/ada.md", "Ada notes"),
            Source("web", "https://example.org/engine", "The Analytical Engine"),
        ],
    )
    assert len(double.requests) == 4, "one call per scripted step, nothing more"
    assert embedder.texts == ["Ada Lovelace program"]
    assert web.queries == ["Analytical Engine"]

    first, after_knowledge, after_web, writer = double.requests
    assert TASK in said(first), "the task's braces are not taken for crewai placeholders"
    assert "search_knowledge" in said(first) and "search_web" in said(first)
    assert first["body"]["stop"] == ["\nObservation:"]
    assert all(set(m) == {"role", "content"} for r in double.requests for m in messages(r))
    # each tool's observation goes back to the model, numbered for citation
    observed = messages(after_knowledge)[-2]
    assert observed["role"] == "assistant"
    assert "Observation: [1] Ada notes\nsource: notes/ada.md" in observed["content"]
    assert "first published program in 1843" in observed["content"]
    assert "[2] The Analytical Engine\nsource: https://example.org/engine" in said(after_web)
    # the writer is a fresh conversation that gets the research notes as its context
    assert messages(writer)[0]["content"].startswith("You are Writer.")
    assert NOTES in said(writer)
    assert "Observation" not in said(writer)


async def test_a_failing_search_is_reported_to_the_model_and_the_crew_goes_on(
    storage: Path,
) -> None:
    web = TwinWeb(error=ServiceError("the search engine is down", code="web_search_unavailable"))
    script = [
        ok(act("search_web", "Ada")),
        ok(final("Nothing found.")),
        ok(final("I found no sources.")),
    ]
    with OpenAIDouble(default=fail(500, "unexpected call")).then(*script) as double:
        result = await run_research_crew(
            "Who was Ada?", gateway=scripted(double), alias="crew", web=web, storage_dir=storage
        )
    assert result == CrewResult(text="I found no sources.", sources=[])
    assert "search_web failed (web_search_unavailable)" in said(double.requests[1])


async def test_model_failure_is_a_daert_error_and_stops_the_crew(storage: Path) -> None:
    with OpenAIDouble(default=fail(500)) as double, pytest.raises(ModelUnavailable) as caught:
        await run_research_crew(
            "Who was Ada?", gateway=scripted(double), alias="crew", web=TwinWeb(),
            storage_dir=storage,
        )  # fmt: skip
    assert caught.value.code == "model_unavailable" and caught.value.hint
    assert len(double.requests) == 1, "no retry on top of the gateway's, no writer after it"


async def test_run_is_bounded_in_time(storage: Path) -> None:
    with OpenAIDouble(default=slow(2)) as double, pytest.raises(CrewTimeout) as caught:
        await run_research_crew(
            "Who was Ada?", gateway=scripted(double), alias="crew", timeout=0.5,
            storage_dir=storage,
        )  # fmt: skip
    assert caught.value.code == "crew_timeout" and "timeout" in caught.value.hint


async def test_a_cancelled_run_stops_calling_the_model(storage: Path) -> None:
    with OpenAIDouble(default=slow(2)) as double:
        run = asyncio.ensure_future(
            run_research_crew("Who was Ada?", gateway=scripted(double), alias="crew",
                              storage_dir=storage)
        )  # fmt: skip
        for _ in range(600):  # until the first model call is in flight
            if double.requests:
                break
            await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await asyncio.sleep(2.5)  # the slow reply has come and gone by now
    assert len(double.requests) == 1, "the crew went on after its caller gave up"


async def test_unknown_alias_fails_before_the_crew_starts(storage: Path) -> None:
    with OpenAIDouble() as double, pytest.raises(ConfigError) as caught:
        await run_research_crew(
            "Who was Ada?", gateway=scripted(double), alias="nope", storage_dir=storage
        )
    assert caught.value.code == "model_alias_unknown"
    assert double.requests == []


def test_missing_crewai_names_the_extra(monkeypatch: pytest.MonkeyPatch, storage: Path) -> None:
    monkeypatch.setitem(sys.modules, "crewai", None)
    with pytest.raises(ConfigError) as caught:
        load_crewai(storage)
    assert caught.value.code == "crew_not_installed"
    assert "pip install 'daert[crew]'" in caught.value.hint


def test_crewai_writes_only_under_the_storage_dir(tmp_path: Path) -> None:
    home, storage = tmp_path / "home", tmp_path / "store"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREWAI_", "XDG_"))}
    code = "from pathlib import Path; from agents.crew.llm import load_crewai; "
    code += f"load_crewai(Path({str(storage)!r}))"
    subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, check=True,
                   cwd=Path(__file__).parents[2], timeout=120)  # fmt: skip
    assert list(home.iterdir()) == [], "crewai wrote into the home directory"
    assert (storage / "credentials").is_dir()
    consent = json.loads((storage / ".crewai_user.json").read_text())
    assert consent["trace_consent"] is False
