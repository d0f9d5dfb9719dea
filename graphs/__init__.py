"""LangGraph state, nodes, routing and the compiled assistant graph."""
