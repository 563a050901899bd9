"""``ScopedCollection``: a Chroma collection that only ever sees the caller's scope.

It keeps Chroma's method names and keyword arguments (``add``, ``upsert``, ``update``,
``delete``, ``get``, ``query``, ``count``, ``peek``) as coroutines, over a sync
``Collection`` (calls run in a worker thread) or an ``AsyncHttpClient`` collection.
Nothing else of the native collection is reachable through it. Every method is the
shared workflow of :class:`~sentinel_vectors_chroma.base.ScopedCollectionBase`, run by
the engine's async driver; :class:`~sentinel_vectors_chroma.sync.SyncScopedCollection`
runs the same workflows blocking.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sentinel_vectors.drive import run_async
from sentinel_vectors.engine import Step
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import Action
from sentinel_vectors_chroma.base import DEFAULT_POSTFILTER_MIN_IDS, ScopedCollectionBase
from sentinel_vectors_chroma.native import translate
from sentinel_vectors_chroma.results import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    Result,
    ScopedQueryResult,
)

__all__ = ["DEFAULT_POSTFILTER_MIN_IDS", "ScopedCollection", "ScopedQueryResult"]


class ScopedCollection(ScopedCollectionBase):
    """A Chroma collection bound to one caller's workspace and permissions (async).

    Args:
        collection: a ``chromadb`` ``Collection`` (its calls run in a worker thread) or
            ``AsyncCollection``.
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        resource_type: the Sentinel resource type of the chunks' parent (``"document"``).
        resource_key: the metadata key naming each chunk's resource id.
        timeout: seconds to wait for the permission service before failing closed.
        strategy: force a read strategy (see :mod:`sentinel_vectors.strategy`).
        max_ids_per_query: accessible-list size above which reads are chunked.
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters
            queries (``None``: never); see :data:`DEFAULT_POSTFILTER_MIN_IDS`.
        overfetch: the post-filter's fetch schedule.
        compiler: the filter compiler (a seam for tests and extensions).

    Record ids are stored as ``"<workspace_id>:<id>"`` so ids never collide across
    workspaces, and are returned exactly as the caller wrote them.
    """

    async def _drive[T](self, step: Step[T]) -> T:
        return await run_async(step, self._policy.scope, translate=translate)

    # -- writes ----------------------------------------------------------------------

    async def add(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Add records, stamped with the caller's workspace, owner and resource.

        Each metadata must carry the resource key. Raises before writing anything if
        an argument is malformed, a tenancy key disagrees with the scope, the caller
        may not write to a named resource, or an id already exists in the workspace
        (``InvalidInputError``: Chroma's own ``add`` would skip it silently; use
        :meth:`upsert` to replace).
        """
        await self._drive(self._put("add", ids, embeddings, metadatas, documents, images, uris))

    async def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Insert or replace records; replacing needs edit access to the stored record."""
        await self._drive(self._put("upsert", ids, embeddings, metadatas, documents, images, uris))

    async def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """Update existing records in place (metadata is merged, as in Chroma).

        Every named record the caller may view must be editable by it (else nothing is
        written); ids that do not exist in the caller's workspace, or name records the
        caller may not view, are ignored, as Chroma ignores unknown ids (invariant 9).
        Tenancy keys may only be repeated with their stored values.
        """
        await self._drive(self._update(ids, embeddings, metadatas, documents, images, uris))

    async def delete(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Result:
        """Delete records the caller may edit, by id and/or filter.

        Named ids of records the caller may not view are treated as absent (invariant 9);
        named records it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a
        filter only ever matches editable records. Returns ``{"deleted": n}``.
        """
        return await self._drive(self._delete(ids, where, where_document, limit))

    # -- reads -----------------------------------------------------------------------

    async def get(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = DEFAULT_GET_INCLUDE,
    ) -> Result:
        """Records the caller may view, in Chroma's ``GetResult`` shape."""
        return await self._drive(self._get(ids, where, limit, offset, where_document, include))

    async def query(
        self,
        query_embeddings: Any = None,
        query_texts: str | Sequence[str] | None = None,
        query_images: Any = None,
        query_uris: str | Sequence[str] | None = None,
        ids: str | Sequence[str] | None = None,
        n_results: int = 10,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = DEFAULT_QUERY_INCLUDE,
    ) -> Result:
        """Nearest neighbours among the records the caller may view (``QueryResult`` shape).

        Pass ``query_embeddings``; ``query_texts``/``images``/``uris`` are embedded by
        the collection's own embedding function, if it has one. The result is a
        :class:`ScopedQueryResult` (a dict with Chroma's keys) whose ``complete``
        attribute tells whether a post-filter filled ``n_results``.
        """
        return await self._drive(
            self._query(
                query_embeddings,
                query_texts,
                query_images,
                query_uris,
                ids,
                n_results,
                where,
                where_document,
                include,
            )
        )

    async def count(self) -> int:
        """How many records the caller may view (not the collection's total)."""
        return await self._drive(self._count())

    async def peek(self, limit: int = 10) -> Result:
        """The first ``limit`` records the caller may view, with embeddings."""
        include = ["embeddings", "documents", "metadatas"]
        return await self._drive(self._get(None, None, limit, None, None, include))

    # -- whole resources (the lifecycle's chunk index) -------------------------------

    async def _resource_ids(self, resource_id: str, action: Action) -> list[str]:
        """Physical ids of every record of one resource in the workspace, if reachable."""
        return await self._drive(self._resource_ids_step(resource_id, action))

    async def _remove_resource(self, resource_id: str, keep: Collection[str] = ()) -> int:
        """Delete every record of the resource but ``keep`` (caller ids), if editable."""
        return await self._drive(self._remove_resource_step(resource_id, keep))

    async def _resource_owners(self, resource_id: str) -> set[object]:
        """Owners of the resource's records in the workspace, whatever the caller may see.

        For the lifecycle's claim check only; never returned to a caller.
        """
        return await self._drive(self._resource_owners_step(resource_id))
