"""Embedded service supervisor: PostgreSQL+pgvector, Redis+FalkorDB, the local model."""
