"""Semantic cache, context summarization, checkpointer and long-term store."""
