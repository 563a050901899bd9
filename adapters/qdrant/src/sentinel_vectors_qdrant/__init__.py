"""Scoped Qdrant client for sentinel-vectors."""
