"""One conformance suite per port (GraphStore, VectorStore, SemanticCache, CodeSandbox, ...).

Each suite is parametrized over every adapter that can run here and talks to real servers:
the `stack` fixture (embedded PostgreSQL, Redis+FalkorDB, local model) and, for Neo4j, a real
Neo4j server. In-memory twins may join a suite, never replace it.
"""
