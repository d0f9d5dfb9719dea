"""The compiled assistant graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.graph import START, StateGraph

from graphs.assistant.state import AssistantState, ToolCall
from graphs.assistant.turn import TurnContext
from tools.registry import TOOL_NAMES

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.store.base import BaseStore

    from graphs.assistant.nodes import Nodes


def build_graph(
    nodes: Nodes,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    store: BaseStore | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(AssistantState, context_schema=TurnContext)
    builder.add_node("route", nodes.route)
    for tool in TOOL_NAMES:
        # A tool node's input is the ToolCall its Send carries, not the graph state.
        builder.add_node(tool, nodes.run_tool, input_schema=ToolCall)
    builder.add_node("answer", nodes.answer)
    builder.add_node("summarize", nodes.summarize)
    builder.add_edge(START, "route")
    return builder.compile(checkpointer=checkpointer, store=store, name="daert-assistant")
