"""How the answer prompt is put together: system prompt, memories, summary, sources, history."""

from __future__ import annotations

from collections.abc import Sequence

from graphs.assistant.state import Source, ToolResult
from tools.registry import TOOL_SPECS

CONTEXT = """Sources (cite them by number, like [1]):
{sources}

Question: {question}"""

NO_SOURCES = {name: spec.looks_in for name, spec in TOOL_SPECS.items() if spec.looks_in}


def system_message(prompt: str, memories: Sequence[str], summary: str) -> str:
    parts = [prompt]
    if memories:
        parts.append("What you know about the user:\n" + "\n".join(f"- {m}" for m in memories))
    if summary:
        parts.append("Summary of the earlier conversation:\n" + summary)
    return "\n\n".join(parts)


def numbered(sources: Sequence[Source], max_chars: int = 6000) -> str:
    lines: list[str] = []
    used = 0
    for i, source in enumerate(sources, 1):
        text = source["text"].strip()
        line = f"[{i}] ({source['ref']}) {text}"
        if lines and used + len(line) > max_chars:
            break
        lines.append(line[:max_chars])
        used += len(line)
    return "\n".join(lines)


def failures(results: Sequence[ToolResult]) -> str:
    failed = [r for r in results if not r["ok"]]
    return "\n".join(f"- {r['tool']} failed: {r.get('error', 'error')}" for r in failed)


def user_turn(question: str, sources: Sequence[Source], results: Sequence[ToolResult]) -> str:
    if not sources and not results:
        return question
    text = CONTEXT.format(sources=numbered(sources) or "(none)", question=question)
    problems = failures(results)
    if problems:
        text = f"Tool problems (tell the user if they matter):\n{problems}\n\n{text}"
    return text


def dont_know(routes: Sequence[str], results: Sequence[ToolResult]) -> str:
    """The explicit answer when the tools found nothing relevant."""
    places = [NO_SOURCES[r] for r in routes if r in NO_SOURCES] or ["my sources"]
    text = f"I don't know. I found nothing relevant in {' or '.join(places)}."
    problems = [r for r in results if not r["ok"]]
    if problems:
        text += (
            " (" + "; ".join(f"{r['tool']} failed: {r.get('error', '')}" for r in problems) + ")"
        )
    return text
