"""Capabilities the assistant graph calls: retrieval, kg_query, web_search, code_exec."""
