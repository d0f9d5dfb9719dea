"""The `web` tool in index mode (DAERT_WEB_SEARCH=index): the assistant searches the pages
crawled into the private web index, through the store it opened for itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.testing.openai_double import OpenAIDouble, ok
from daert.adapters import build_embedder, build_ingestor, build_vector_store
from daert.services.plan import build_supervisor, endpoints
from tests.conftest import Stack
from tests.graph.conftest import Opener, assistant_settings

pytestmark = pytest.mark.slow

PAGE = """<html><head><title>Quince Hill orchard</title></head><body><main>
<h1>Visiting Quince Hill</h1>
<p>The Quince Hill orchard opens its gates at 6 a.m. from May to October; picking ends at
noon on Sundays.</p></main></body></html>"""


def plan(*steps: tuple[str, str], done: bool = False) -> str:
    return json.dumps({"steps": [{"tool": t, "input": i} for t, i in steps], "done": done})


async def crawl(stack: Stack, model: OpenAIDouble, collection: str, tmp_path: Path) -> str:
    """Store a page in the web collection the way `daert crawl` stores what it fetched."""
    page = tmp_path / "quince-hill.html"
    page.write_text(PAGE)
    settings = assistant_settings(stack, model, collection)
    store = build_vector_store(endpoints(settings, build_supervisor(settings)))
    await store.setup()
    try:
        ingestor = build_ingestor(
            settings, store, build_embedder(settings), settings.web_collection
        )
        report = await ingestor.ingest([str(page)])
        assert [r.outcome for r in report.results] == ["added"]
    finally:
        await store.aclose()
    return str(page)


@pytest.mark.parametrize("tools", [["web"], ["web", "retrieve"]])
async def test_the_web_tool_searches_the_private_index(
    open_runtime: Opener, model: OpenAIDouble, stack: Stack, collection: str, *,
    tmp_path: Path, tools: list[str],
) -> None:  # fmt: skip
    source = await crawl(stack, model, collection, tmp_path)
    model.then(
        ok(plan(("web", "Quince Hill orchard opening time")), expect="Tools:"),
        ok(plan(done=True), expect="Results so far"),
        ok("It opens at 6 a.m. [1].", expect="opens its gates at 6 a.m."),
    )
    async with open_runtime(planner_capable=True, assistant_tools=tools, web_search="index") as rt:
        reply = await rt.assistant.ask("When does the Quince Hill orchard open?")
    assert reply.tools[0]["tool"] == "web" and reply.tools[0]["ok"] is True, reply.tools
    assert reply.routes == ["web"]
    assert [(c["kind"], c["ref"]) for c in reply.citations] == [("web", source)]
    assert reply.text == "It opens at 6 a.m. [1]."
