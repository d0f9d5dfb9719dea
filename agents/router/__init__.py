"""Routing: which tools a question needs. An embedding router first, an LLM planner when capable."""
