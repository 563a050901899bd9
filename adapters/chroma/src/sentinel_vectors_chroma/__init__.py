"""Scoped Chroma collections for sentinel-vectors.

``ScopedCollection(collection, request_auth, resource_type="document")`` wraps a
``chromadb`` collection so that every write is stamped with the caller's workspace,
owner and resource, and every read is confined to what the caller may view.
"""

from sentinel_vectors_chroma.collection import (
    DEFAULT_POSTFILTER_MIN_IDS,
    ScopedCollection,
    ScopedQueryResult,
)
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ChromaWhereCompiler",
    "ScopedCollection",
    "ScopedQueryResult",
]
