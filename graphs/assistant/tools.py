"""The tools the graph calls, over the ports of knowledge/ and tools/.

Each tool turns a `ToolCall` into a `ToolResult` with the sources it found. A tool that is
not configured, fails or runs out of time gives a failed result the model is told about;
it never ends the run.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agents.gateway.structured import structured
from agents.router.embedding import CODE_FENCE
from core.errors import DaertError, InputError
from graphs.assistant.state import Source, ToolCall, ToolResult
from knowledge.graph import nl2cypher
from knowledge.graph.ports import entity_key
from knowledge.vector.ports import SearchOptions
from tools.registry import TOOL_SPECS, TimeoutKind, ToolName

if TYPE_CHECKING:
    from agents.embeddings.ports import Embedder
    from agents.gateway import GuidanceRunner, ModelGateway
    from knowledge.graph.ports import GraphStore
    from knowledge.vector.ports import VectorStore
    from memory.blobs import BlobStore
    from tools.code_exec.ports import CodeSandbox, ExecutionResult
    from tools.web_search.ports import WebSearch

CrewRunner = Callable[[str], Awaitable[tuple[str, list[Source]]]]
ToolRunner = Callable[[ToolCall, str], Awaitable[ToolResult]]  # (call, session) -> result
MAX_SOURCE_CHARS = 2000

FIND_ENTITIES = (
    "MATCH (e) WHERE e.key IS NOT NULL AND NOT e:Chunk AND size(e.key) > 2 "
    "AND $q CONTAINS e.key RETURN e.name AS name, e.key AS key LIMIT 10"
)
CHUNK_SOURCES = "MATCH (c:Chunk) WHERE c.id IN $ids RETURN c.id AS id, c.source AS source"


class GeneratedCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20000)


def failed(call: ToolCall, error: str) -> ToolResult:
    return ToolResult(
        tool=call["tool"], query=call["query"], ok=False,
        summary=f"{call['tool']} failed: {error}", sources=[], error=error,
    )  # fmt: skip


CODE_NODES = (ast.Call, ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.FunctionDef,
              ast.For, ast.While, ast.BinOp, ast.With)  # fmt: skip


def extract_code(text: str) -> str | None:
    """The Python a message carries: a fenced block, or the text itself when it is code."""
    fenced = CODE_FENCE.search(text)
    if fenced:
        return fenced.group(1).strip()
    try:
        tree = ast.parse(text.strip())
    except (SyntaxError, ValueError):
        return None
    if any(isinstance(node, CODE_NODES) for node in ast.walk(tree)):
        return text.strip()
    return None


@dataclass
class Toolbox:
    """What the graph may call; a `None` port means the tool is not available here.

    Each tool's spec (`tools/registry.py`) names its port attribute and its runner method here.
    """

    embedder: Embedder
    store: VectorStore | None = None
    collection: str = "default"
    graph: GraphStore | None = None
    web: WebSearch | None = None
    sandbox: CodeSandbox | None = None
    crew: CrewRunner | None = None
    gateway: ModelGateway | None = None
    coder_alias: str = "default"
    cypher_alias: str | None = None  # set when a capable model may write Cypher
    guidance_runner: GuidanceRunner | None = None
    blobs: BlobStore | None = None  # where the code tool's images go (left out when None)
    k: int = 5
    min_relevance: float = 0.3
    timeout: float = 60.0
    code_timeout: float = 30.0
    crew_timeout: float = 180.0  # the crew bounds itself; this is the backstop

    @property
    def available(self) -> list[ToolName]:
        return [name for name, spec in TOOL_SPECS.items() if getattr(self, spec.port) is not None]

    def limit(self, kind: TimeoutKind) -> float:
        """Seconds one call may take (the sandbox and the crew bound themselves: a backstop)."""
        limits: dict[TimeoutKind, float] = {
            "tool": self.timeout,
            "code": self.code_timeout + 10,
            "crew": self.crew_timeout + 10,
        }
        return limits[kind]

    async def embed(self, text: str) -> list[float]:
        return (await self.embedder.embed([text]))[0]

    async def run(self, call: ToolCall, *, session: str) -> ToolResult:
        """Run one call within the tool timeout; every failure becomes a failed result."""
        if call["tool"] not in self.available:
            return failed(call, f"the {call['tool']} tool is not configured on this server")
        spec = TOOL_SPECS[call["tool"]]
        runner: ToolRunner = getattr(self, spec.runner)
        limit = self.limit(spec.timeout)
        try:
            return await asyncio.wait_for(runner(call, session), timeout=limit)
        except TimeoutError:
            return failed(call, f"no result within {limit:.0f} s")
        except DaertError as err:
            return failed(call, f"{err.code}: {err.message}")
        except Exception as err:  # noqa: BLE001 - a tool's bug is reported to the model, not fatal
            return failed(call, f"{type(err).__name__}: {str(err)[:300]}")

    async def retrieve(self, call: ToolCall, session: str) -> ToolResult:
        assert self.store is not None  # noqa: S101 - checked by run()
        vector = await self.embed(call["query"])
        try:
            hits = await self.store.search(
                self.collection, call["query"], vector, SearchOptions(k=self.k, hybrid=0.7)
            )
        except InputError as err:
            if err.code != "collection_not_found":
                raise
            hits = []  # nothing ingested yet: nothing relevant
        relevant = [h for h in hits if (h.similarity or 0.0) >= self.min_relevance]
        sources = [
            Source(kind="chunk", ref=h.source, title=h.title or h.source,
                   text=h.content[:MAX_SOURCE_CHARS], score=round(h.similarity or 0.0, 4))
            for h in relevant
        ]  # fmt: skip
        return ToolResult(
            tool="retrieve", query=call["query"], ok=True, sources=sources,
            summary=f"{len(sources)} relevant passages (of {len(hits)} searched)",
        )  # fmt: skip

    async def kg(self, call: ToolCall, session: str) -> ToolResult:
        assert self.graph is not None  # noqa: S101 - checked by run()
        if self.cypher_alias is not None and self.gateway is not None:
            try:
                return await self._kg_cypher(call)
            except DaertError:
                pass  # a query the model could not write: look the entities up by name
        return await self._kg_names(call)

    async def _kg_cypher(self, call: ToolCall) -> ToolResult:
        """A capable model writes read-only Cypher from the graph's schema; its rows are facts."""
        assert self.graph is not None and self.gateway is not None  # noqa: S101
        answer = await nl2cypher.ask(
            self.gateway, self.graph, call["query"], alias=self.cypher_alias or "planner",
            limit=30, guidance_runner=self.guidance_runner,
        )  # fmt: skip
        if not answer.rows:
            raise DaertError("the Cypher query found nothing", code="kg_empty")
        sources = [
            Source(kind="graph", ref=f"graph query: {answer.cypher}", title="graph query result",
                   text=json.dumps(row, default=str)[:MAX_SOURCE_CHARS], score=1.0)
            for row in answer.rows
        ]  # fmt: skip
        return ToolResult(tool="kg", query=call["query"], ok=True, sources=sources,
                          summary=f"{len(sources)} rows from {answer.cypher}")  # fmt: skip

    async def _kg_names(self, call: ToolCall) -> ToolResult:
        assert self.graph is not None  # noqa: S101 - checked by run()
        found = await self.graph.read(FIND_ENTITIES, {"q": entity_key(call["query"])}, limit=10)
        names = [str(r["name"]) for r in found]
        if not names:
            return ToolResult(tool="kg", query=call["query"], ok=True, sources=[],
                              summary="no known entity is named in the question")  # fmt: skip
        sub = await self.graph.neighbourhood(names, hops=1, limit=30)
        label = {f"{n['type']}:{n['key']}": str(n["name"]) for n in sub.nodes}
        chunk_ids = sorted({c for e in sub.edges for c in e.get("chunks", [])})
        where: dict[str, str] = {}
        if chunk_ids:
            rows = await self.graph.read(CHUNK_SOURCES, {"ids": chunk_ids}, limit=1000)
            where = {str(r["id"]): str(r["source"]) for r in rows}
        sources: list[Source] = []
        for edge in sub.edges:
            fact = f"{label[edge['source']]} {edge['type']} {label[edge['target']]}"
            origin = next((where[c] for c in edge.get("chunks", []) if c in where), None)
            sources.append(Source(kind="graph", ref=origin or f"graph:{label[edge['source']]}",
                                  title=fact, text=fact, score=1.0))  # fmt: skip
        return ToolResult(tool="kg", query=call["query"], ok=True, sources=sources,
                          summary=f"{len(sources)} facts about {', '.join(names)}")  # fmt: skip

    async def search_web(self, call: ToolCall, session: str) -> ToolResult:
        assert self.web is not None  # noqa: S101 - checked by run()
        results = await self.web.search(call["query"], k=self.k)
        sources = [
            Source(kind="web", ref=r.url, title=r.title or r.url,
                   text=(r.content or r.snippet)[:MAX_SOURCE_CHARS], score=round(r.score, 4))
            for r in results
        ]  # fmt: skip
        return ToolResult(tool="web", query=call["query"], ok=True, sources=sources,
                          summary=f"{len(sources)} pages from {self.web.name}")  # fmt: skip

    async def code(self, call: ToolCall, session: str) -> ToolResult:
        assert self.sandbox is not None  # noqa: S101 - checked by run()
        code = extract_code(call["query"])
        if code is None:
            if self.gateway is None:
                return failed(call, "no code given and no model to write it")
            written = await structured(
                self.gateway, self.coder_alias,
                [{"role": "system", "content": "Write Python that computes the answer and "
                  "prints it. Only the code."}, {"role": "user", "content": call["query"]}],
                GeneratedCode, guidance_runner=self.guidance_runner, max_tokens=512,
            )  # fmt: skip
            code = written.code
        result = await self.sandbox.execute(code, session=session, timeout=self.code_timeout)
        text = render_execution(code, result)
        parts = []
        if self.blobs is not None:  # stored once; checkpoints and events carry the reference
            for part in result.parts:
                data = (
                    base64.b64decode(part.data)
                    if part.mime.startswith("image/")
                    else (part.data.encode())
                )
                parts.append({"mime": part.mime, "ref": await self.blobs.put(part.mime, data)})
        ref = f"code:{result.session or session}"
        source = Source(kind="code", ref=ref, title="code execution",
                        text=text[:MAX_SOURCE_CHARS], score=1.0)  # fmt: skip
        outcome = "ran" if result.ok else f"raised {result.error}"
        done = ToolResult(tool="code", query=call["query"], ok=result.ok, sources=[source],
                          summary=f"code {outcome}", parts=parts)  # fmt: skip
        if not result.ok:
            done["error"] = result.error or "error"
        return done

    async def research(self, call: ToolCall, session: str) -> ToolResult:
        assert self.crew is not None  # noqa: S101 - checked by run()
        text, sources = await self.crew(call["query"])
        report = Source(kind="chunk", ref="crew:report", title="research crew report",
                        text=text[: MAX_SOURCE_CHARS * 4], score=1.0)  # fmt: skip
        return ToolResult(tool="crew", query=call["query"], ok=True,
                          sources=[report, *sources],
                          summary=f"crew report with {len(sources)} sources")  # fmt: skip


def render_execution(code: str, result: ExecutionResult) -> str:
    lines = [f"```python\n{code}\n```"]
    if result.stdout:
        lines.append(f"stdout:\n{result.stdout.strip()}")
    if result.result is not None:
        lines.append(f"value: {result.result}")
    if result.stderr:
        lines.append(f"stderr:\n{result.stderr.strip()[-1000:]}")
    if result.error:
        lines.append(f"error: {result.error}")
    if result.timed_out:
        lines.append("(timed out)")
    if result.parts:
        lines.append(
            f"({len(result.parts)} rich outputs: {', '.join(p.mime for p in result.parts)})"
        )
    return "\n".join(lines)
