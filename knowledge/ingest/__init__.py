"""Ingestion: load -> clean -> chunk -> embed -> upsert."""
