"""A research-and-write crew as one tool call: a researcher searches, a writer answers.

Both CrewAI agents think through our gateway (one alias) and search through our ports; the
run is bounded in steps and time, and returns the writer's text with the sources the
researcher's tools returned. Every failure is a daert error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agents.crew.errors import CrewError
from agents.crew.llm import LoopBridge, gateway_llm, load_crewai
from agents.crew.tools import Source, SourceCollector, crew_tools
from core.errors import ConfigError, DaertError, InputError

if TYPE_CHECKING:
    from agents.embeddings.ports import Embedder
    from agents.gateway import ModelGateway
    from knowledge.vector.ports import VectorStore
    from tools.web_search.ports import WebSearch

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # how long a stopped crew gets to notice before we return without it

RESEARCHER = {
    "role": "Researcher",
    "goal": "Find the facts the task needs, with the source of each one.",
    "backstory": "You research carefully: you search before you conclude, you keep the [n] "
    "number of every source you use, and you never invent facts or sources.",
}
RESEARCH = (
    "Research this task:\n\n{task}\n\nSearch for the facts it needs. Report them as short "
    "notes, each followed by the [n] numbers of the sources it came from."
)
RESEARCH_WITHOUT_TOOLS = (
    "Research this task:\n\n{task}\n\nYou have no search tools: note what you know that "
    "bears on it, and say plainly what is uncertain."
)
WRITER = {
    "role": "Writer",
    "goal": "Write the final answer to the task from the research notes.",
    "backstory": "You write clear, well-organised answers. You use only the facts in the "
    "research notes and keep their [n] citations next to the facts they support.",
}
WRITE = (
    "Write the final answer to this task:\n\n{task}\n\nBase it only on the research notes "
    "in your context, and keep their [n] citations."
)


@dataclass(frozen=True)
class CrewResult:
    """The writer's answer and every source the research returned (`[n]` is `sources[n-1]`)."""

    text: str
    sources: list[Source] = field(default_factory=list)


async def run_research_crew(
    task: str,
    *,
    gateway: ModelGateway,
    alias: str,
    storage_dir: Path,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    collection: str = "default",
    web: WebSearch | None = None,
    max_iterations: int = 6,
    timeout: float = 300.0,
    context_window: int = 8192,
    thread_id: str | None = None,
    user_id: str | None = None,
) -> CrewResult:
    """Research `task` with the given search ports, then write the answer.

    `max_iterations` bounds each agent's think-act steps, `timeout` the whole run in seconds
    (not counting crewai's one-time import). crewai's own files go under `storage_dir`
    (the composition root passes the data dir's `crewai/`; the first run in a process decides).
    """
    if not task.strip():
        raise InputError("the crew got an empty task", hint="say what to research",
                         code="crew_task_empty")  # fmt: skip
    if (embedder is None) != (store is None):
        raise ConfigError(
            "knowledge search in the crew needs both an embedder and a vector store",
            hint="pass both `embedder` and `store`, or neither",
            code="crew_tools_invalid",
        )
    if max_iterations < 1 or timeout <= 0:
        raise ConfigError(
            f"the crew needs max_iterations >= 1 and timeout > 0, got {max_iterations} and "
            f"{timeout}",
            hint="give max_iterations of 1 or more and a timeout in seconds above 0",
            code="crew_limits_invalid",
        )
    gateway.entry(alias)  # an unknown or uncallable alias fails here, before the crew starts
    crewai = await asyncio.to_thread(load_crewai, storage_dir)
    bridge = LoopBridge(asyncio.get_running_loop(), timeout=timeout)
    collector = SourceCollector()
    llm = gateway_llm(bridge, gateway, alias, context_window=context_window,
                      thread_id=thread_id, user_id=user_id)  # fmt: skip
    tools = crew_tools(bridge, collector, embedder=embedder, store=store,
                       collection=collection, web=web)  # fmt: skip
    worker = asyncio.ensure_future(
        asyncio.to_thread(_kickoff, crewai, task, llm, tools, max_iterations)
    )
    try:
        done, _ = await asyncio.wait({worker}, timeout=timeout)
    except asyncio.CancelledError:
        bridge.cancel()
        worker.add_done_callback(_discard_outcome)
        raise
    if not done:
        bridge.cancel()
        worker.add_done_callback(_discard_outcome)
        await asyncio.wait({worker}, timeout=STOP_GRACE_S)
        raise bridge.timeout_error()
    try:
        text = worker.result()
    except DaertError:
        raise
    except Exception as err:
        if bridge.failure is not None:
            raise bridge.failure from err
        log.warning("research crew failed", exc_info=err)
        first = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        raise CrewError(
            f"the research crew failed: {first}",
            hint="see the server log; retry, or give the crew a narrower task",
        ) from err
    if not text.strip():
        raise CrewError("the research crew finished without an answer", hint="retry",
                        code="crew_empty_answer")  # fmt: skip
    return CrewResult(text=text.strip(), sources=collector.sources)


def _discard_outcome(worker: asyncio.Future[str]) -> None:
    if not worker.cancelled():
        worker.exception()  # the run was given up on; how it ended no longer matters


def _kickoff(crewai: ModuleType, task: str, llm: Any, tools: list[Any], max_iterations: int) -> str:
    """Build and run the crew (in a worker thread: crewai is synchronous)."""
    quiet: dict[str, Any] = {
        "llm": llm,
        "max_iter": max_iterations,
        "max_retry_limit": 0,  # the gateway already retries and falls back
        "allow_delegation": False,
        "use_better_compaction": False,  # would spill large tool results to temp files
        "verbose": False,
    }
    researcher = crewai.Agent(**RESEARCHER, tools=tools, **quiet)
    writer = crewai.Agent(**WRITER, tools=[], **quiet)
    # The task text goes straight into the descriptions; kickoff gets no inputs, so braces
    # in it are never taken for crewai's {placeholders}.
    research = crewai.Task(
        description=(RESEARCH if tools else RESEARCH_WITHOUT_TOOLS).format(task=task),
        expected_output="Research notes: the facts, each with its [n] source numbers.",
        agent=researcher,
    )
    write = crewai.Task(
        description=WRITE.format(task=task),
        expected_output="The complete answer in Markdown, with [n] citations.",
        agent=writer,
        context=[research],
    )
    crew = crewai.Crew(
        agents=[researcher, writer],
        tasks=[research, write],
        process=crewai.Process.sequential,
        memory=False,
        cache=False,
        planning=False,
        tracing=False,
        verbose=False,
    )
    return str(crew.kickoff().raw)
