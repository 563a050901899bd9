"""The backend-neutral view of a scoped store that the resource lifecycle and routes use.

A :class:`ChunkIndex` holds the chunks of resources (documents) for one caller's scope:
write a resource's chunks, remove them, search. Every backend binding
(:mod:`sentinel_vectors.backends`) implements it on top of that backend's scoped
wrapper, so every tenancy rule of the wrapper still applies: the index is a convenience
over the wrapper, never a way around it.

Chunk records are laid out the same way on every backend:

- the record id of chunk ``i`` of resource ``r`` is :func:`chunk_id` ``(r, i)``, a
  UUIDv5, so re-indexing replaces the same records and a retry writes nothing twice;
- the metadata carries the wrapper's tenancy keys (stamped by the wrapper), the caller's
  own metadata, and two bookkeeping keys: :data:`CHUNK_OF_KEY` (the resource id again)
  and :data:`CHUNK_INDEX_KEY` (``i``).

Why :data:`CHUNK_OF_KEY` repeats the resource id: the wrappers refuse caller filters on
the resource key (the scope owns it), and removing "every chunk of resource r" needs a
filter that says so. The bookkeeping key only ever *narrows* a filter that the wrapper
ANDs under the caller's own ``edit`` scope, so it cannot reach anything the caller could
not already delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Scope, canonical_uuid
from sentinel_vectors.validation import as_embeddings

__all__ = [
    "CHUNK_INDEX_KEY",
    "CHUNK_OF_KEY",
    "TEXT_KEY",
    "Chunk",
    "ChunkIndex",
    "Hit",
    "check_chunks",
    "chunk_id",
    "chunk_metadata",
]

CHUNK_OF_KEY = "chunk_of"
"""Bookkeeping metadata key: the id of the resource a chunk belongs to."""

CHUNK_INDEX_KEY = "chunk_index"
"""Bookkeeping metadata key: the chunk's position (0-based) in its resource."""

TEXT_KEY = "text"
"""Payload key of a chunk's text on backends without a document column (Qdrant)."""

# Fixed namespace of chunk ids; changing it would orphan every stored chunk.
_CHUNK_NAMESPACE = uuid.UUID("0b7c3d52-8a4e-4f0e-b1f4-5d9b6c2e7a13")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a resource: its text, its embedding and extra metadata of the caller's."""

    text: str
    embedding: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the chunk, its resource and its distance (smaller is closer)."""

    id: str
    resource_id: str
    text: str
    distance: float
    metadata: Mapping[str, Any]


def chunk_id(resource_id: str, index: int) -> str:
    """The record id of chunk ``index`` of ``resource_id``: a UUIDv5, the same everywhere.

    A UUID suits every backend (Qdrant accepts only UUIDs and integers as point ids).
    """
    rid = canonical_uuid(resource_id, what="resource_id")
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{rid}:{index}"))


def check_chunks(chunks: Sequence[Chunk]) -> list[Chunk]:
    """Validate chunks before anything is registered or written; returns them as a list.

    Chunks must be :class:`Chunk` objects with string text and finite embeddings of one
    dimension; their metadata may not use the tenancy or bookkeeping keys.
    """
    if isinstance(chunks, str | bytes) or not isinstance(chunks, Sequence) or not chunks:
        raise InvalidInputError("chunks must be a non-empty list of Chunk")
    out = list(chunks)
    for i, chunk in enumerate(out):
        if not isinstance(chunk, Chunk):
            raise InvalidInputError(f"chunks[{i}] must be a Chunk, got {type(chunk).__name__}")
        if not isinstance(chunk.text, str):
            raise InvalidInputError(f"chunks[{i}].text must be a string")
        if not isinstance(chunk.metadata, Mapping):
            raise InvalidInputError(f"chunks[{i}].metadata must be a dict")
    as_embeddings([c.embedding for c in out], n=len(out), dimension=None, what="chunk embeddings")
    return out


def chunk_metadata(scope: Scope, resource_id: str, index: int, chunk: Chunk) -> dict[str, Any]:
    """The metadata written with chunk ``index``: the caller's, the resource and bookkeeping.

    The caller's metadata may not set the tenancy keys (the wrapper stamps them from the
    scope), the bookkeeping keys, nor :data:`TEXT_KEY` (the text's place on Qdrant; kept
    free everywhere so that metadata valid on one backend is valid on all).
    """
    reserved = {
        WORKSPACE_KEY,
        OWNER_KEY,
        scope.resource_key,
        CHUNK_OF_KEY,
        CHUNK_INDEX_KEY,
        TEXT_KEY,
    }
    clash = reserved & set(chunk.metadata)
    if clash:
        raise ReservedKeyError(
            f"chunk metadata may not set {sorted(clash)}: the lifecycle and the scope stamp "
            f"them. Remove those keys."
        )
    meta = dict(chunk.metadata)
    meta[scope.resource_key] = resource_id
    meta[CHUNK_OF_KEY] = resource_id
    meta[CHUNK_INDEX_KEY] = index
    return meta


@runtime_checkable
class ChunkIndex(Protocol):
    """A scoped store seen as resources made of chunks (one caller's scope).

    Implementations go through the backend's scoped wrapper for every call, so reads see
    only what the caller may view and writes reach only what the caller may edit.
    """

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        ...

    async def put_chunks(self, resource_id: str, chunks: Sequence[Chunk]) -> None:
        """Write the chunks of ``resource_id`` (ids :func:`chunk_id`), replacing old ones.

        Chunks ``0..n-1`` are upserted, then stored chunks ``n..`` of an earlier, longer
        version are removed. Calling it twice with the same chunks leaves the same state.
        """
        ...

    async def remove_chunks(self, resource_id: str, *, start: int = 0) -> int:
        """Remove the chunks of ``resource_id`` whose index is ``>= start``; return how many.

        Only chunks the caller may edit are reached. Removing what is not there is a no-op.
        """
        ...

    async def count_chunks(self, resource_id: str) -> int:
        """How many chunks of ``resource_id`` the caller may view."""
        ...

    async def search(
        self, embedding: Sequence[float], k: int = 10, *, filter: Filter | None = None
    ) -> list[Hit]:
        """The ``k`` chunks closest to ``embedding`` among those the caller may view.

        ``filter`` (the neutral algebra of :mod:`sentinel_vectors.filters`) is the
        caller's: the wrapper ANDs it under the scope, so it can only narrow, and refuses
        it if it names a tenancy key.
        """
        ...
