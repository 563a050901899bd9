"""The backend-neutral view of a scoped store that the resource lifecycle and routes use.

A :class:`ChunkIndex` holds the chunks of resources (documents) for one caller's scope:
write a resource's chunks, remove them, search. Every backend binding
(:class:`~sentinel_vectors.binding.StoreBackend`, in its adapter distribution)
implements it on top of that backend's scoped wrapper, so every tenancy rule of the
wrapper still applies: the index is a convenience over the wrapper, never a way around it.

Chunk records are laid out the same way on every backend:

- the record id of chunk ``i`` of resource ``r`` is :func:`chunk_id` ``(r, i)``,
  ``"<r>:<i>"``. Ids of the form ``"<resource uuid>:..."`` are reserved to that resource
  by the core policy (invariant 8): nobody can write a record of another resource under
  them, so re-indexing and its retries always converge;
- the metadata carries the wrapper's tenancy keys (stamped by the wrapper), the caller's
  own metadata, :data:`CHUNK_INDEX_KEY` (``i``) and :data:`CHUNK_OF_KEY` (the resource
  id again, so that caller filters can restrict a search to given documents: the
  wrappers refuse caller filters on the resource key).

The chunks of a resource are selected by the stamped, reserved resource key itself
(:meth:`~sentinel_vectors.policy.TenancyPolicy.resource_filter`), never by
:data:`CHUNK_OF_KEY` or any other key a caller could write or clear: removing a
resource's chunks reaches every record of it in the workspace, whoever wrote it and
whatever else its metadata says.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Scope, canonical_uuid
from sentinel_vectors.validation import as_embeddings, check_positive_int

__all__ = [
    "CHUNK_INDEX_KEY",
    "CHUNK_OF_KEY",
    "TEXT_KEY",
    "Chunk",
    "ChunkIndex",
    "Hit",
    "StoreChunkIndex",
    "check_chunks",
    "chunk_id",
    "chunk_metadata",
]

CHUNK_OF_KEY = "chunk_of"
"""Convenience metadata key: the resource id again, for caller filters ("these documents").

Ordinary, caller-writable metadata: nothing in the suite trusts it. Removing or counting
a resource's chunks selects by the stamped resource key instead."""

CHUNK_INDEX_KEY = "chunk_index"
"""Bookkeeping metadata key: the chunk's position (0-based) in its resource."""

TEXT_KEY = "text"
"""Payload key of a chunk's text on backends without a document column (Qdrant)."""


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


def chunk_id(resource_id: str | uuid.UUID, index: int) -> str:
    """The record id of chunk ``index`` of ``resource_id``: ``"<resource id>:<index>"``.

    The ``"<resource uuid>:"`` prefix reserves the id to that resource (invariant 8,
    :func:`sentinel_vectors.policy.resource_of_id`); the Qdrant wrapper accepts this form
    besides integers and UUIDs.
    """
    rid = canonical_uuid(resource_id, what="resource_id")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidInputError(f"chunk index must be a non-negative int, got {index!r}")
    return f"{rid}:{index}"


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

        Chunks ``0..n-1`` are upserted (in one write, which the wrapper rolls back where
        the backend allows), then every other stored record of the resource is removed.
        Calling it twice with the same chunks leaves the same state.
        """
        ...

    async def remove_chunks(self, resource_id: str, *, keep: Collection[str] = ()) -> int:
        """Remove every record of ``resource_id`` in the workspace but ``keep``; how many.

        Selects by the stamped resource key (whoever wrote the records, whatever their
        other metadata), and only if the caller may edit the resource; otherwise nothing
        is removed. Removing what is not there is a no-op.
        """
        ...

    async def count_chunks(self, resource_id: str) -> int:
        """How many records of ``resource_id`` the caller may view."""
        ...

    async def claimable(self, resource_id: str) -> bool:
        """Whether no record of ``resource_id`` in the workspace belongs to someone else.

        Asked by the lifecycle before it registers a new resource id: chunks of an id
        the identity service does not know (left by earlier versions, or a failure) are
        never claimed by a caller who did not write them all.
        """
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


class StoreChunkIndex(ABC):
    """:class:`ChunkIndex` written once over a scoped wrapper; an adapter fills in the calls.

    The resource id is made canonical, chunks are checked and given their ids
    (:func:`chunk_id`), and ``put_chunks`` removes what it did not write, here; the
    adapter's binding supplies the five calls on its scoped wrapper (``_write_chunks``,
    ``_remove``, ``_count``, ``_owners``, ``_search``), each of which goes through the
    wrapper's scope like any other call.
    """

    @property
    @abstractmethod
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""

    async def put_chunks(self, resource_id: str, chunks: Sequence[Chunk]) -> None:
        """Upsert chunks ``0..n-1``, then remove every other record of the resource."""
        rid = canonical_uuid(resource_id, what="resource_id")
        checked = check_chunks(chunks)
        ids = [chunk_id(rid, i) for i in range(len(checked))]
        await self._write_chunks(rid, ids, checked)
        await self.remove_chunks(rid, keep=ids)

    async def remove_chunks(self, resource_id: str, *, keep: Collection[str] = ()) -> int:
        """Delete every record of the resource in the workspace but ``keep`` (if editable).

        Selected by the stamped resource key, so a record whose other metadata was
        changed or cleared is removed too.
        """
        return await self._remove(canonical_uuid(resource_id, what="resource_id"), keep)

    async def count_chunks(self, resource_id: str) -> int:
        """How many records of the resource the caller may view."""
        return await self._count(canonical_uuid(resource_id, what="resource_id"))

    async def claimable(self, resource_id: str) -> bool:
        """Whether every record of the resource in the workspace is the caller's own."""
        rid = canonical_uuid(resource_id, what="resource_id")
        return await self._owners(rid) <= {self.scope.user_id}

    async def search(
        self, embedding: Sequence[float], k: int = 10, *, filter: Filter | None = None
    ) -> list[Hit]:
        """The ``k`` nearest chunks the caller may view, ``filter`` ANDed under the scope."""
        check_positive_int(k, what="k")
        return await self._search(list(embedding), k, filter)

    @abstractmethod
    async def _write_chunks(self, resource_id: str, ids: list[str], chunks: list[Chunk]) -> None:
        """Upsert the checked chunks under ``ids`` through the scoped wrapper."""

    @abstractmethod
    async def _remove(self, resource_id: str, keep: Collection[str]) -> int:
        """Delete the resource's records but ``keep``; how many (the wrapper's rule)."""

    @abstractmethod
    async def _count(self, resource_id: str) -> int:
        """How many records of the resource the caller may view."""

    @abstractmethod
    async def _owners(self, resource_id: str) -> set[object]:
        """Owners of the resource's records in the workspace (for the claim check only)."""

    @abstractmethod
    async def _search(self, embedding: list[float], k: int, flt: Filter | None) -> list[Hit]:
        """The wrapper's top-``k`` search, as :class:`Hit` objects."""
