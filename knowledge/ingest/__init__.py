"""Ingestion: load -> clean -> chunk -> embed -> upsert."""

DEFAULT_STREAM = "daert:ingest"  # the Redis Stream producers push documents to
DEFAULT_GROUP = "daert-ingest"  # the consumer group of the ingest workers
