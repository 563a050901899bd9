"""Chroma binding: ``ScopedCollection`` per caller, and a chunk index over it."""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

from sentinel_vectors import filters as F
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StartupProblem
from sentinel_vectors.errors import StoreUnavailableError, is_store_outage
from sentinel_vectors.index import (
    Chunk,
    Hit,
    StoreChunkIndex,
    chunk_metadata,
)
from sentinel_vectors.scope import Scope
from sentinel_vectors_chroma.collection import ScopedCollection
from sentinel_vectors_chroma.records import ChromaRecords

__all__ = ["ChromaBackend", "ChromaChunkIndex"]


class ChromaBackend:
    """One Chroma collection, scoped per caller.

    Args:
        collection: a ``chromadb`` ``Collection`` or ``AsyncCollection``, created with
            ``embedding_function=None`` (the suite never embeds implicitly).
        resource_type: the Sentinel resource type (``"document"``).
        resource_key: the metadata key naming each chunk's resource.
        options: further ``ScopedCollection`` keyword arguments (``timeout``, ``strategy``,
            ``max_ids_per_query``).
    """

    def __init__(
        self,
        collection: Any,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        **options: Any,
    ) -> None:
        self.collection = collection
        self._resource_type = resource_type
        self._resource_key = resource_key
        self._options = options

    async def check(self) -> list[StartupProblem]:
        """Start-up check: the collection still exists and Chroma answers."""
        try:
            counted = self.collection.count()
            if inspect.isawaitable(counted):
                await counted
        except Exception as exc:
            if is_store_outage(exc):
                raise StoreUnavailableError(
                    f"Chroma could not be reached at start-up ({type(exc).__name__}: {exc})",
                    store="chroma",
                ) from exc
            return [StartupProblem(f"Chroma collection {self.collection.name!r}: {exc}")]
        return []

    def __repr__(self) -> str:
        name = getattr(self.collection, "name", "?")
        return f"ChromaBackend(collection={name!r}, resource_type={self._resource_type!r})"

    @property
    def resource_type(self) -> str:
        """The Sentinel resource type."""
        return self._resource_type

    def scoped(self, auth: AuthContext) -> ScopedCollection:
        """A ``ScopedCollection`` for ``auth``."""
        return ScopedCollection(
            self.collection,
            auth,
            resource_type=self._resource_type,
            resource_key=self._resource_key,
            **self._options,
        )

    def index(self, auth: AuthContext) -> ChromaChunkIndex:
        """The chunk index for ``auth``."""
        return ChromaChunkIndex(self.scoped(auth))

    def records(self, auth: AuthContext) -> ChromaRecords:
        """The records-by-id view for ``auth`` (the framework-native vector stores')."""
        return ChromaRecords(self.scoped(auth))


class ChromaChunkIndex(StoreChunkIndex):
    """:class:`~sentinel_vectors.index.ChunkIndex` over a ``ScopedCollection``.

    Texts go to Chroma's ``documents`` column; every call is a ``ScopedCollection`` call.
    """

    def __init__(self, store: ScopedCollection) -> None:
        self.store = store

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        return self.store.scope

    async def _write_chunks(self, resource_id: str, ids: list[str], chunks: list[Chunk]) -> None:
        await self.store.upsert(
            ids=ids,
            embeddings=[list(c.embedding) for c in chunks],
            metadatas=[chunk_metadata(self.scope, resource_id, i, c) for i, c in enumerate(chunks)],
            documents=[c.text for c in chunks],
        )

    async def _remove(self, resource_id: str, keep: Collection[str]) -> int:
        return await self.store._remove_resource(resource_id, keep)

    async def _count(self, resource_id: str) -> int:
        return len(await self.store._resource_ids(resource_id, "view"))

    async def _owners(self, resource_id: str) -> set[object]:
        return await self.store._resource_owners(resource_id)

    async def _search(self, embedding: list[float], k: int, flt: F.Filter | None) -> list[Hit]:
        """Chroma distances, as Chroma reports them."""
        res = await self.store.query(
            query_embeddings=[embedding],
            n_results=k,
            where=flt,
            include=["documents", "metadatas", "distances"],
        )
        key = self.scope.resource_key
        hits: list[Hit] = []
        for rid, doc, meta, dist in zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=True,
        ):
            metadata = dict(meta or {})
            hits.append(
                Hit(
                    id=str(rid),
                    resource_id=str(metadata.get(key, "")),
                    text=doc or "",
                    distance=float(dist),
                    metadata=metadata,
                )
            )
        return hits
