"""Scoped Qdrant client for sentinel-vectors.

``ScopedQdrantClient(client, request_auth, resource_type="document")`` wraps a
``QdrantClient`` or ``AsyncQdrantClient`` so that every write is stamped with the
caller's workspace, owner and resource, and every read is confined to what the caller
may view. ``ensure_collection(...)`` creates a collection with the tenant payload indexes.
``QdrantBackend(client, collection_name, resource_type="document")`` is the binding the
FastAPI layer, the resource lifecycle and the retrievers use (``sentinel_vectors.binding``).
"""

from sentinel_vectors_qdrant.binding import QdrantBackend, QdrantChunkIndex
from sentinel_vectors_qdrant.client import (
    DEFAULT_POSTFILTER_MIN_IDS,
    LOCAL_POSTFILTER_MIN_IDS,
    ScopedQdrantClient,
    ScopedQueryResponse,
)
from sentinel_vectors_qdrant.collection import ensure_collection
from sentinel_vectors_qdrant.compiler import QdrantFilterCompiler
from sentinel_vectors_qdrant.points import ID_KEY

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ID_KEY",
    "LOCAL_POSTFILTER_MIN_IDS",
    "QdrantBackend",
    "QdrantChunkIndex",
    "QdrantFilterCompiler",
    "ScopedQdrantClient",
    "ScopedQueryResponse",
    "ensure_collection",
]
