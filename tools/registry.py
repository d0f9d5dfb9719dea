"""The assistant's tools, each declared once: what the router, planner, graph and toolbox read.

Adding a tool is its name in `ToolName` and its `ToolSpec` here, plus the `Toolbox` port and
method the spec names (and the port's adapters). The rest follows from this registry: settings
validation, the router's routes and exemplars, the planner's prompt and schema, the graph's
nodes, the cache rules. Pure data: no I/O and nothing of LangGraph or LiteLLM, so any layer may
import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

ToolName = Literal["retrieve", "kg", "web", "code", "crew"]
"""The one spelling of the tool names; `TOOL_SPECS` has exactly these keys, in this order."""

TimeoutKind = Literal["tool", "code", "crew"]
"""Which limit bounds a call: the tool timeout, or the sandbox's or crew's own (plus grace)."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool the assistant graph may call."""

    name: ToolName
    description: str  # one line the planner shows the model
    takes: str  # the tool's input (one string), in words the planner shows the model
    port: str  # the `Toolbox` attribute that must be set for the tool to be available
    runner: str  # the `Toolbox` coroutine method `(call, session) -> ToolResult` that runs it
    exemplars: tuple[str, ...]  # how people ask for it: the embedding router's utterances
    timeout: TimeoutKind = "tool"
    cacheable: bool = False  # an answer from its results may be kept in the semantic cache
    # A knowledge tool looks facts up: where, as the answer names it when it finds none there
    # (the answer is then "I don't know ... in <looks_in>", not a guess of the model's).
    looks_in: str = ""
    solo: bool = False  # the router never runs a second route beside it

    @property
    def knowledge(self) -> bool:
        """Whether it looks facts up: finding none means the answer is "I don't know"."""
        return bool(self.looks_in)

    def planner_line(self) -> str:
        """The line of the planner's tool list that describes this tool."""
        return f"- {self.name}: {self.description}. Input: {self.takes}."


_SPECS = (
    ToolSpec(
        name="retrieve",
        description="search the user's documents (knowledge base)",
        takes="a search query",
        port="store",
        runner="retrieve",
        cacheable=True,
        looks_in="your documents",
        exemplars=(
            "what does our documentation say about this setting",
            "according to the handbook, how many vacation days do employees get",
            "find the section of the design document about authentication",
            "summarize the onboarding guide",
            "what is our refund policy",
            "how do I configure the deployment in our project docs",
            "look it up in my notes",
            "which file in the knowledge base explains the release process",
            "what did the meeting notes say about the budget",
            "explain how the ingestion pipeline works according to the docs",
            "what is the maximum upload size mentioned in the manual",
            "quote the paragraph about data retention from the policy",
            "what is photosynthesis",
            "who wrote the report on market trends",
            "how does the product handle user permissions",
            "tell me about the history of the company",
            "search my uploaded files for the invoice from the plumber",
            "what does the contract say about early termination",
            "according to the runbook, how do I restart the queue worker",
            "how does the human heart pump blood",
        ),
    ),
    ToolSpec(
        name="kg",
        description="query the knowledge graph of entities and relations",
        takes="a question about entities",
        port="graph",
        runner="kg",
        looks_in="the knowledge graph",
        exemplars=(
            "who works with Alice",
            "how is Acme related to Globex",
            "which people are connected to the project Apollo",
            "list every company that Bob has worked for",
            "what entities are linked to Berlin in the knowledge graph",
            "who reports to the head of engineering",
            "which teams depend on the billing service",
            "show the relationships between these two organisations",
            "who are the colleagues of the CTO",
            "which products does Initech own",
            "find the path connecting Carol and Dave",
            "what is Alice's manager's department",
            "which board members does Acme share with Initech",
            "who has Frank co-authored papers with",
            "what is the relationship between the sales team and the marketing department",
            "which organisations is Grace a member of",
            "who are the investors and partners of this startup",
            "how are these three people connected to each other",
        ),
    ),
    ToolSpec(
        name="web",
        description="search the web for current or public information",
        takes="a search query",
        port="web",
        runner="search_web",
        looks_in="the web search",
        exemplars=(
            "what is the latest news about the election",
            "search the web for reviews of this laptop",
            "what is the weather in Paris today",
            "current price of bitcoin",
            "who won the football match last night",
            "find recent articles about quantum computing",
            "what happened in the stock market this week",
            "look up the newest release of Python online",
            "what are people saying on the internet about this movie",
            "google the opening hours of the museum",
            "today's exchange rate from euro to dollar",
            "breaking news headlines right now",
            "is this website down or is it just me",
            "who is the current CEO of that company",
            "how much are tickets for the concert on Saturday",
            "live score of the tennis final",
            "what's the traffic like on the motorway at the moment",
            "check online whether the shop has this item in stock",
        ),
    ),
    ToolSpec(
        name="code",
        description="run Python in a sandbox (maths, data, charts)",
        takes="complete Python code",
        port="sandbox",
        runner="code",
        timeout="code",
        exemplars=(
            "calculate 17 factorial",
            "run this python snippet",
            "plot a sine wave from 0 to 2 pi",
            "compute the mean and standard deviation of 3, 5, 9, 12",
            "what is 2 to the power of 100",
            "write and execute code to sort this list",
            "make a bar chart of these numbers",
            "solve the equation x squared minus 4 equals 0",
            "convert this csv into a table and sum the second column",
            "how many days are there between 2020-01-01 and 2024-03-15",
            "simulate rolling two dice ten thousand times",
            "generate the first 20 fibonacci numbers",
            "compute the compound interest on 1000 at 5 percent for 10 years",
            "multiply 48213 by 9077",
            "take the derivative of this function and simplify it",
            "invert this 3x3 matrix",
            "is 7919 a prime number",
            "convert 5 miles to kilometres",
            "base64 encode this string",
            "load the spreadsheet into pandas and group the rows by region",
        ),
    ),
    ToolSpec(
        name="crew",
        description="a research-and-write crew for long multi-step tasks",
        takes="the task",
        port="crew",
        runner="research",
        timeout="crew",
        solo=True,
        exemplars=(
            "research this topic in depth and write a detailed report",
            "write a comprehensive blog post comparing the three frameworks with sources",
            "do a thorough multi-step investigation and produce a briefing document",
            "research the competitors and write a market analysis",
            "prepare a long well-sourced article about renewable energy trends",
            "investigate the pros and cons and write an essay with citations",
            "compile a literature review on this subject",
            "create an in-depth research summary with references from several sources",
            "draft a whitepaper on this subject after researching it thoroughly",
            "produce a detailed strategy document backed by research",
            "write a long case study drawing on multiple sources",
            "put together a due diligence report on this company",
            "research several sources and write a comprehensive how-to guide",
        ),
    ),
)

TOOL_NAMES: tuple[ToolName, ...] = get_args(ToolName)
TOOL_SPECS: Mapping[ToolName, ToolSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
CACHEABLE_TOOLS: frozenset[ToolName] = frozenset(spec.name for spec in _SPECS if spec.cacheable)
KNOWLEDGE_TOOLS: frozenset[ToolName] = frozenset(spec.name for spec in _SPECS if spec.knowledge)
SOLO_TOOLS: frozenset[ToolName] = frozenset(spec.name for spec in _SPECS if spec.solo)
