"""Scoped Chroma collections."""
