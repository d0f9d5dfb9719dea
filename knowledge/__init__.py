"""Ingestion, pgvector store, hybrid search and the knowledge graph."""
