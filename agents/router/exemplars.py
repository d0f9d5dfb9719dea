"""Default exemplar utterances per route for the embedding router.

Each route is described by how people ask for it. A tool route's utterances are declared with
the tool (`tools/registry.py`); the one route that is not a tool, "chat" (answer without tools),
has its utterances here. Keep them varied in wording and topic; the labelled evaluation set
(`eval/datasets/routing.jsonl`) must stay disjoint from these. Operators add or replace them
with a TOML/JSON file (DAERT_ROUTER_EXEMPLARS).
"""

from __future__ import annotations

from tools.registry import TOOL_SPECS

CHAT_ROUTE = "chat"

CHAT_EXEMPLARS: tuple[str, ...] = (
    "hello",
    "hi there, how are you",
    "thanks a lot",
    "good morning",
    "tell me a joke",
    "rephrase this sentence to sound more polite",
    "translate 'good night' into French",
    "who are you",
    "what can you do",
    "bye, see you later",
    "fix the grammar in this sentence: he go to school",
    "that's great, thank you",
    "haha, nice",
    "are you an AI?",
    "never mind",
    "write a little poem about the sea",
    "make this paragraph shorter",
    "rewrite this message in a friendlier tone",
    "put these points into a bulleted list",
    "ok, sounds good",
)

DEFAULT_EXEMPLARS: dict[str, list[str]] = {
    **{name: list(spec.exemplars) for name, spec in TOOL_SPECS.items()},
    CHAT_ROUTE: list(CHAT_EXEMPLARS),
}
