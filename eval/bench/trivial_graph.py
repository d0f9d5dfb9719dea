"""The trivial graph the Agent-Protocol server benchmark serves on every target.

One node that answers with an AI message echoing the last input message: no model call,
no sleep, so what a benchmark measures is the server around the graph. It imports only
langgraph and langchain_core (never daert), so each peer server can load it from its own
virtualenv, by file (`trivial_graph.py:graph`) or by import path
(`eval.bench.trivial_graph:graph`).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def echo(state: MessagesState) -> dict[str, Any]:
    """Append an AI message repeating the text of the last message."""
    messages = state["messages"]
    last = messages[-1].content if messages else ""
    text = last if isinstance(last, str) else str(last)
    return {"messages": [AIMessage(content=text)]}


builder = StateGraph(MessagesState)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
builder.add_edge("echo", END)
graph = builder.compile()
