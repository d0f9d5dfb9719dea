"""API keys bound to daert users, request authentication, and rate limits shared through Redis."""
