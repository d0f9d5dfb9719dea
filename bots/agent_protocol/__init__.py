"""The Agent-Protocol API (the shape of LangGraph's agent server), so `langgraph-sdk` works.

Thin routes over the run machinery (`bots.runs`), the thread registry, the assistants and
crons stored here, and the long-term store. Every route acts as the caller's user only.
"""
