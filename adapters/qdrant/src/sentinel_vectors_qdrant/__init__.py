"""Scoped Qdrant client for sentinel-vectors.

``ScopedQdrantClient(client, request_auth, resource_type="document")`` wraps a
``QdrantClient`` or ``AsyncQdrantClient`` so that every write is stamped with the
caller's workspace, owner and resource, and every read is confined to what the caller
may view. ``ensure_collection(...)`` creates a collection with the tenant payload indexes.
"""

from sentinel_vectors_qdrant.client import ScopedQdrantClient
from sentinel_vectors_qdrant.collection import ensure_collection
from sentinel_vectors_qdrant.compiler import QdrantFilterCompiler
from sentinel_vectors_qdrant.points import ID_KEY

__all__ = ["ID_KEY", "QdrantFilterCompiler", "ScopedQdrantClient", "ensure_collection"]
