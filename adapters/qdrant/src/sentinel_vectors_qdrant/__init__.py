"""Scoped Qdrant client for sentinel-vectors.

``ScopedQdrantClient(client, request_auth, resource_type="document")`` wraps a
``QdrantClient`` or ``AsyncQdrantClient`` (``SyncScopedQdrantClient``: the same with
blocking methods, over a ``QdrantClient``) so that every write is stamped with the
caller's workspace, owner and resource, and every read is confined to what the caller
may view. ``ensure_collection(...)`` creates a collection with the tenant payload indexes.
``QdrantBackend(client, collection_name, resource_type="document")`` is the binding the
FastAPI layer, the resource lifecycle and the retrievers use (``sentinel_vectors.binding``).
``placement=Placement(...)`` on any of them puts workspaces on shard keys of their own
(:mod:`sentinel_vectors_qdrant.placement`); ``create_workspace_shard`` and
``promote_workspace`` administer them (:mod:`sentinel_vectors_qdrant.promotion`).
"""

from sentinel_vectors_qdrant.binding import QdrantBackend, QdrantChunkIndex
from sentinel_vectors_qdrant.client import (
    DEFAULT_POSTFILTER_MIN_IDS,
    LOCAL_POSTFILTER_MIN_IDS,
    QdrantOperations,
    ScopedQdrantClient,
    ScopedQueryResponse,
    SyncScopedQdrantClient,
)
from sentinel_vectors_qdrant.collection import ensure_collection
from sentinel_vectors_qdrant.compiler import QdrantFilterCompiler
from sentinel_vectors_qdrant.placement import SHARED_SHARD_KEY
from sentinel_vectors_qdrant.points import ID_KEY
from sentinel_vectors_qdrant.promotion import (
    create_workspace_shard,
    create_workspace_shard_sync,
    promote_workspace,
    promote_workspace_sync,
)

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ID_KEY",
    "LOCAL_POSTFILTER_MIN_IDS",
    "SHARED_SHARD_KEY",
    "QdrantBackend",
    "QdrantChunkIndex",
    "QdrantFilterCompiler",
    "QdrantOperations",
    "ScopedQdrantClient",
    "ScopedQueryResponse",
    "SyncScopedQdrantClient",
    "create_workspace_shard",
    "create_workspace_shard_sync",
    "ensure_collection",
    "promote_workspace",
    "promote_workspace_sync",
]
