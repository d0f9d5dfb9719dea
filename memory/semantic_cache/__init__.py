"""Semantic cache: answers to self-contained questions, found again by meaning, in Redis."""
