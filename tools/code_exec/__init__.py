"""Sandboxed code execution: a Jupyter kernel in bubblewrap locally (E2B in the cloud)."""
