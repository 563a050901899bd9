"""Scoped Chroma collections for sentinel-vectors.

``ScopedCollection(collection, request_auth, resource_type="document")`` wraps a
``chromadb`` collection so that every write is stamped with the caller's workspace,
owner and resource, and every read is confined to what the caller may view.
``SyncScopedCollection`` is the same over a sync ``chromadb.Collection``, for blocking
code.
``ChromaBackend(collection, resource_type="document")`` is the binding the FastAPI
layer, the resource lifecycle and the retrievers use (``sentinel_vectors.binding``).
"""

from sentinel_vectors_chroma.binding import ChromaBackend, ChromaChunkIndex
from sentinel_vectors_chroma.collection import (
    DEFAULT_POSTFILTER_MIN_IDS,
    ScopedCollection,
    ScopedQueryResult,
)
from sentinel_vectors_chroma.compiler import ChromaWhereCompiler
from sentinel_vectors_chroma.placement import (
    collection_name,
    placed_collection,
    sync_placed_collection,
)
from sentinel_vectors_chroma.sync import SyncScopedCollection

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ChromaBackend",
    "ChromaChunkIndex",
    "ChromaWhereCompiler",
    "ScopedCollection",
    "ScopedQueryResult",
    "SyncScopedCollection",
    "collection_name",
    "placed_collection",
    "sync_placed_collection",
]
