"""``SyncScopedCollection``: the scoped Chroma collection for blocking code.

The same methods, arguments and result shapes as
:class:`~sentinel_vectors_chroma.collection.ScopedCollection`, over a sync
``chromadb.Collection`` (``HttpClient``, ``PersistentClient``), returning values instead
of coroutines. Every method is the shared workflow of
:class:`~sentinel_vectors_chroma.base.ScopedCollectionBase`, run by the engine's
blocking driver (:func:`sentinel_vectors.drive.run_sync`): the two forms are one code.

Sentinel's ``RequestAuth`` is async and talks to the permission service on the event
loop that owns its HTTP client, so each question to it goes through
:func:`sentinel_vectors.drive.call_blocking`: from a worker thread of that loop (a
FastAPI ``def`` route, ``anyio.to_thread.run_sync``) automatically, with ``loop_token``
from any other thread, or through ``portal`` in a script. On an event loop thread a
call is refused before anything is asked or read: it would block the loop that must
answer it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio.from_thread
from anyio.lowlevel import EventLoopToken

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.drive import call_blocking, run_sync
from sentinel_vectors.engine import Step
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, FilterCompiler
from sentinel_vectors.strategy import DEFAULT_MAX_IDS_PER_QUERY, OverFetch, StrategyName
from sentinel_vectors_chroma.base import DEFAULT_POSTFILTER_MIN_IDS, ScopedCollectionBase
from sentinel_vectors_chroma.compiler import Where
from sentinel_vectors_chroma.native import translate
from sentinel_vectors_chroma.results import DEFAULT_GET_INCLUDE, DEFAULT_QUERY_INCLUDE, Result

__all__ = ["SyncScopedCollection"]


class SyncScopedCollection(ScopedCollectionBase):
    """A sync Chroma collection bound to one caller's workspace and permissions.

    Args:
        collection: a sync ``chromadb`` ``Collection`` (an ``AsyncCollection`` is
            refused: use :class:`~sentinel_vectors_chroma.ScopedCollection`).
        portal: an ``anyio.from_thread.BlockingPortal`` whose loop owns the permission
            client (a script or a worker without a request loop).
        loop_token: ``anyio.lowlevel.current_token()`` taken on the loop that owns the
            permission client, to call from any other thread.

    The other arguments are :class:`~sentinel_vectors_chroma.ScopedCollection`'s.
    """

    def __init__(
        self,
        collection: Any,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        strategy: StrategyName = "auto",
        max_ids_per_query: int = DEFAULT_MAX_IDS_PER_QUERY,
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[Where] | None = None,
        portal: anyio.from_thread.BlockingPortal | None = None,
        loop_token: EventLoopToken | None = None,
    ) -> None:
        super().__init__(
            collection,
            auth,
            resource_type=resource_type,
            resource_key=resource_key,
            timeout=timeout,
            strategy=strategy,
            max_ids_per_query=max_ids_per_query,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
            compiler=compiler,
        )
        if inspect.iscoroutinefunction(collection.query):
            raise InvalidInputError(
                f"SyncScopedCollection needs a sync chromadb Collection, got "
                f"{type(collection).__name__} (async); use ScopedCollection for it"
            )
        self._portal = portal
        self._loop_token = loop_token

    def _drive[T](self, step: Step[T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            step.close()
            raise InvalidInputError(
                "SyncScopedCollection was called on an event loop thread, where it would "
                "block the loop that must answer it; await ScopedCollection there"
            )
        return run_sync(step, self._policy.scope, blocking=self._blocking, translate=translate)

    def _blocking[T](self, fn: Callable[[], Awaitable[T]]) -> T:
        return call_blocking(
            fn,
            portal=self._portal,
            loop_token=self._loop_token,
            what="SyncScopedCollection",
            use_async="ScopedCollection",
        )

    # -- writes ----------------------------------------------------------------------

    def add(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """See :meth:`ScopedCollection.add <sentinel_vectors_chroma.ScopedCollection.add>`."""
        self._drive(self._put("add", ids, embeddings, metadatas, documents, images, uris))

    def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """See :meth:`ScopedCollection.upsert <sentinel_vectors_chroma.ScopedCollection.upsert>`."""
        self._drive(self._put("upsert", ids, embeddings, metadatas, documents, images, uris))

    def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        documents: str | Sequence[str] | None = None,
        images: Any = None,
        uris: str | Sequence[str] | None = None,
    ) -> None:
        """See :meth:`ScopedCollection.update <sentinel_vectors_chroma.ScopedCollection.update>`."""
        self._drive(self._update(ids, embeddings, metadatas, documents, images, uris))

    def delete(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        where_document: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Result:
        """See :meth:`ScopedCollection.delete <sentinel_vectors_chroma.ScopedCollection.delete>`."""
        return self._drive(self._delete(ids, where, where_document, limit))

    # -- reads -----------------------------------------------------------------------

    def get(
        self,
        ids: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Filter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: Mapping[str, Any] | None = None,
        include: Sequence[str] = DEFAULT_GET_INCLUDE,
    ) -> Result:
        """See :meth:`ScopedCollection.get <sentinel_vectors_chroma.ScopedCollection.get>`."""
        return self._drive(self._get(ids, where, limit, offset, where_document, include))

    def query(
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
        """See :meth:`ScopedCollection.query <sentinel_vectors_chroma.ScopedCollection.query>`."""
        return self._drive(
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

    def count(self) -> int:
        """See :meth:`ScopedCollection.count <sentinel_vectors_chroma.ScopedCollection.count>`."""
        return self._drive(self._count())

    def peek(self, limit: int = 10) -> Result:
        """See :meth:`ScopedCollection.peek <sentinel_vectors_chroma.ScopedCollection.peek>`."""
        include = ["embeddings", "documents", "metadatas"]
        return self._drive(self._get(None, None, limit, None, None, include))
