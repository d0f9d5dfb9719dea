"""The assistant graph: route, act with tools, answer with citations, summarize."""
