"""Small LangGraph graphs the server tests serve through DAERT_GRAPHS (imported by path).

`slow`: the last message says how long to work (`"work 3"` → 3 s) and the node reports each
tenth of a second as a custom event, so tests can cancel, interrupt or kill it midway and
count what was streamed. `"fail"` makes it raise.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph


async def work(state: MessagesState) -> dict[str, Any]:
    text = str(state["messages"][-1].content)
    if text == "fail":
        raise ValueError("the slow graph was told to fail")
    seconds = float(text.split()[1]) if text.startswith("work ") else 0.0
    write = get_stream_writer()
    for tick in range(int(seconds * 10)):
        write({"tick": tick})
        await asyncio.sleep(0.1)
    return {"messages": [AIMessage(content=f"worked {seconds:g}s")]}


builder = StateGraph(MessagesState)
builder.add_node("work", work)
builder.add_edge(START, "work")
builder.add_edge("work", END)
slow = builder.compile()
