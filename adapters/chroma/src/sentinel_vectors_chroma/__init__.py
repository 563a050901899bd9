"""Scoped Chroma collections for sentinel-vectors.

``ScopedCollection(collection, request_auth, resource_type="document")`` wraps a
``chromadb`` collection so that every write is stamped with the caller's workspace,
owner and resource, and every read is confined to what the caller may view.
"""

from sentinel_vectors_chroma.collection import ScopedCollection
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler

__all__ = ["ChromaWhereCompiler", "ScopedCollection"]
