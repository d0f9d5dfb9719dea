"""Embedders: text to vectors, with the dimension as part of each embedder's identity."""
