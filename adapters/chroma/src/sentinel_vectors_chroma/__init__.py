"""Scoped Chroma collections for sentinel-vectors.

``ScopedCollection(collection, request_auth, resource_type="document")`` wraps a
``chromadb`` collection so that every write is stamped with the caller's workspace,
owner and resource, and every read is confined to what the caller may view.
``SyncScopedCollection`` is the same over a sync ``chromadb.Collection``, for blocking
code. ``placed_collection`` / ``PlacedChromaBackend`` place each workspace in the shared
collection or its own (``docs/scaling.md``); ``promote_workspace`` moves one online.
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
    PlacedChromaBackend,
    collection_name,
    placed_collection,
    sync_placed_collection,
)
from sentinel_vectors_chroma.promotion import (
    promote_workspace,
    promote_workspace_sync,
    registry_name,
    workspace_state,
    workspace_state_sync,
)
from sentinel_vectors_chroma.sync import SyncScopedCollection
from sentinel_vectors_chroma.tiered import ChromaPlaces, SyncTieredCollection, TieredCollection

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "ChromaBackend",
    "ChromaChunkIndex",
    "ChromaPlaces",
    "ChromaWhereCompiler",
    "PlacedChromaBackend",
    "ScopedCollection",
    "ScopedQueryResult",
    "SyncScopedCollection",
    "SyncTieredCollection",
    "TieredCollection",
    "collection_name",
    "placed_collection",
    "promote_workspace",
    "promote_workspace_sync",
    "registry_name",
    "sync_placed_collection",
    "workspace_state",
    "workspace_state_sync",
]
