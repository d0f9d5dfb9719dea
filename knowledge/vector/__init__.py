"""Vector store: chunks with embeddings in PostgreSQL + pgvector, hybrid search."""
