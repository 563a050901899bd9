"""``ScopedVectorStore``: a pgvector chunk repository bound to one caller's scope.

Every call asks the permission service first (outside any transaction), then runs in
ONE transaction that starts with ``SET LOCAL sentinel.workspace_id`` (for row-level
security) and, for a search, the HNSW settings. A failed call rolls its transaction
back: a batch is written entirely or not at all.

Transactions: given an engine, the store opens and commits its own. Given a session
that is idle, it begins and commits a transaction on it; given a session already inside
a transaction (your unit of work), it runs in a SAVEPOINT and leaves the commit to you.

The async and the sync store are two drivers over the same calls
(:class:`~sentinel_vectors_pgvector.calls.StoreCalls`): each public method builds its
call's workflow there and runs it with :func:`sentinel_vectors.drive.run_async` or
:func:`~sentinel_vectors.drive.run_sync`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Unpack

import anyio.from_thread
from sqlalchemy import Engine, Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only, greenlet_spawn

from sentinel_vectors.access import Action
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.drive import run_sync
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_pgvector import operations as ops
from sentinel_vectors_pgvector.calls import Call, StoreCalls, StoreOptions, WhereArg
from sentinel_vectors_pgvector.model import Distance
from sentinel_vectors_pgvector.partitions import translate_store_error
from sentinel_vectors_pgvector.results import Hits, Record

__all__ = ["ScopedVectorStore", "SyncScopedVectorStore"]


class ScopedVectorStore(StoreCalls):
    """An async pgvector chunk store confined to one caller's workspace and permissions.

    Args:
        bind: an ``AsyncEngine`` or an ``AsyncSession`` (any SQLAlchemy async
            PostgreSQL driver; asyncpg is the one this package depends on).
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        model: the chunk table: a :class:`~sentinel_vectors_pgvector.ChunkMixin` class
            or a ``Table`` from :func:`~sentinel_vectors_pgvector.chunk_table`.
        resource_type: the Sentinel resource type of the chunks' parent (``"document"``).
        resource_key: the resource column, also the metadata key writes name it under.
        distance: the default distance of :meth:`query` (match your HNSW index).
        timeout: seconds to wait for the permission service before failing closed.
        iterative_scan, ef_search, max_scan_tuples: HNSW settings of every query
            (``SET LOCAL``), see :class:`SearchSettings`.
        compiler: the filter compiler (a seam for tests and extensions); the default
            is :class:`~sentinel_vectors_pgvector.SqlFilterCompiler` over the table.
        strategy: force the read strategy of :meth:`query` (``"prefilter"`` or
            ``"postfilter"``; see :mod:`sentinel_vectors.strategy`).
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters a
            query (``None``: never).
        overfetch: the post-filter's fetch schedule.

    Nothing of the engine or session is reachable through the store.
    """

    def __init__(
        self,
        bind: AsyncEngine | AsyncSession,
        auth: AuthContext | None,
        **options: Unpack[StoreOptions],
    ) -> None:
        super().__init__(auth, **options)
        if not isinstance(bind, AsyncEngine | AsyncSession):
            raise InvalidInputError(
                f"bind must be an AsyncEngine or AsyncSession, got {type(bind).__name__}; "
                f"for a sync Engine or Session use SyncScopedVectorStore"
            )
        self._bind = bind

    # -- writes -----------------------------------------------------------------------

    async def add(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """Insert new chunks, stamped with the caller's workspace, owner and resource.

        Each metadata names its resource under the resource key. Raises before writing
        anything if an argument is malformed, a tenancy key disagrees with the scope,
        the caller may not write to a named resource, or an id already exists.
        """
        await self._run(self._put("add", ids, embeddings, metadatas, documents))

    async def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """Insert or replace chunks; replacing needs edit access to the stored chunk."""
        await self._run(self._put("upsert", ids, embeddings, metadatas, documents))

    async def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Any = None,
        documents: str | Sequence[str | None] | None = None,
    ) -> int:
        """Update stored chunks in place; metadata is merged. Returns how many were found.

        Every named chunk the caller may view must be editable (else nothing is
        written); ids that do not exist in the workspace, or name chunks the caller may
        not view, are skipped (invariant 9). Tenancy keys may be repeated
        only with their stored values.
        """
        return await self._run(self._update(ids, embeddings, metadatas, documents))

    async def delete(
        self, ids: str | Sequence[str] | None = None, *, filter: WhereArg = None
    ) -> int:
        """Delete chunks the caller may edit, by id and/or filter; returns how many.

        Named ids of chunks the caller may not view count as absent (invariant 9); named
        chunks it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a
        filter only ever matches editable chunks.
        """
        return await self._run(self._delete(ids, filter))

    # -- reads ------------------------------------------------------------------------

    async def get(
        self,
        ids: str | Sequence[str] | None = None,
        *,
        filter: WhereArg = None,
        limit: int | None = None,
        offset: int | None = None,
        include_embeddings: bool = False,
    ) -> list[Record]:
        """Chunks the caller may view, by id and/or filter, ordered by id."""
        return await self._run(self._get(ids, filter, limit, offset, include_embeddings))

    async def query(
        self,
        embedding: Any,
        k: int = 10,
        *,
        filter: WhereArg = None,
        distance: Distance | None = None,
        include_embeddings: bool = False,
    ) -> Hits:
        """The ``k`` nearest chunks the caller may view, nearest first.

        A :class:`~sentinel_vectors_pgvector.Hits` (a ``list[Hit]``) whose ``complete``
        attribute tells whether a post-filter filled ``k``.
        """
        return await self._run(self._query(embedding, k, filter, distance, include_embeddings))

    async def count(self, *, filter: WhereArg = None) -> int:
        """How many chunks the caller may view (never the table's total)."""
        return await self._run(self._count(filter))

    async def scoped_select(
        self, entity: object = None, *, filter: WhereArg = None, action: Action = "view"
    ) -> Select[Any]:
        """``select(entity)`` already constrained to what the caller may ``action``.

        ``entity`` defaults to the store's model. Compose it (joins, full-text, ORDER
        BY a distance, LIMIT) and run it inside :meth:`session`, which applies the
        ``SET LOCAL`` settings. Rows you read this way do not pass the store's per-hit
        re-check: the constraint is the WHERE clause alone.
        """
        return await self._run(self._scoped_select(entity, filter, action))

    async def configure(self, session: AsyncSession, *, k: int | None = None) -> None:
        """Run the store's ``SET LOCAL`` settings in ``session``'s current transaction.

        Sets ``sentinel.workspace_id`` (row-level security) and, given the ``k`` of a
        search, the HNSW settings. Use it before running a :meth:`scoped_select`.
        """
        if k is not None:
            check_positive_int(k, what="k")
        await session.execute(self._sql.settings_statement(k=k))

    # -- internals: whole resources (the lifecycle's chunk index) ----------------------

    async def _remove_resource(self, resource_id: str, keep: Sequence[str] = ()) -> int:
        """Delete every chunk of the resource in the workspace but ``keep``, if editable."""
        step = ops.remove_resource(self._sql, self._policy, resource_id, list(keep))
        return await self._run(Call(step))

    async def _count_resource(self, resource_id: str) -> int:
        """How many chunks of the resource the caller may view (0 if out of reach)."""
        return await self._run(Call(ops.count_resource(self._sql, self._policy, resource_id)))

    async def _resource_owners(self, resource_id: str) -> set[object]:
        """Owners of the resource's chunks in the workspace, whatever the caller may see."""
        return await self._run(Call(ops.resource_owners(self._sql, self._policy, resource_id)))

    # -- the driver -------------------------------------------------------------------

    async def _run[T](self, call: Call[T]) -> T:
        # The blocking driver in ONE greenlet, as AsyncSession.run_sync runs sync code:
        # statements use the async bind's sync API (each awaits the driver underneath)
        # and identity questions are awaited on this loop with SQLAlchemy's await_only.
        # One greenlet per call, not one per statement.
        bind = self._bind
        sync_bind = bind.sync_engine if isinstance(bind, AsyncEngine) else bind.sync_session
        return await greenlet_spawn(
            run_sync,
            call.step,
            self.scope,
            blocking=_await_on_loop,
            connect=functools.partial(self._transaction, sync_bind, call.k),
            translate=translate_store_error,
        )


class SyncScopedVectorStore(StoreCalls):
    """The same store over a sync ``Engine`` or ``Session`` (psycopg 3, psycopg2, ...).

    Sentinel's ``RequestAuth`` is async, so each call reaches the event loop that owns
    the permission client: from a worker thread of that loop (FastAPI and Starlette
    run sync routes in one; ``anyio.to_thread.run_sync``) automatically, or through
    ``portal`` (an ``anyio.from_thread.BlockingPortal`` whose loop owns the client) in
    a script or a worker. Calling it on an event loop thread is refused: it would block
    the loop.
    """

    def __init__(
        self,
        bind: Engine | Session,
        auth: AuthContext | None,
        *,
        portal: anyio.from_thread.BlockingPortal | None = None,
        **options: Unpack[StoreOptions],
    ) -> None:
        super().__init__(auth, **options)
        if not isinstance(bind, Engine | Session):
            raise InvalidInputError(
                f"bind must be an Engine or Session, got {type(bind).__name__}; "
                f"for an AsyncEngine or AsyncSession use ScopedVectorStore"
            )
        self._bind = bind
        self._portal = portal

    # -- writes -----------------------------------------------------------------------

    def add(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """See :meth:`ScopedVectorStore.add`."""
        self._run(self._put("add", ids, embeddings, metadatas, documents))

    def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """See :meth:`ScopedVectorStore.upsert`."""
        self._run(self._put("upsert", ids, embeddings, metadatas, documents))

    def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Any = None,
        documents: str | Sequence[str | None] | None = None,
    ) -> int:
        """See :meth:`ScopedVectorStore.update`."""
        return self._run(self._update(ids, embeddings, metadatas, documents))

    def delete(self, ids: str | Sequence[str] | None = None, *, filter: WhereArg = None) -> int:
        """See :meth:`ScopedVectorStore.delete`."""
        return self._run(self._delete(ids, filter))

    # -- reads ------------------------------------------------------------------------

    def get(
        self,
        ids: str | Sequence[str] | None = None,
        *,
        filter: WhereArg = None,
        limit: int | None = None,
        offset: int | None = None,
        include_embeddings: bool = False,
    ) -> list[Record]:
        """See :meth:`ScopedVectorStore.get`."""
        return self._run(self._get(ids, filter, limit, offset, include_embeddings))

    def query(
        self,
        embedding: Any,
        k: int = 10,
        *,
        filter: WhereArg = None,
        distance: Distance | None = None,
        include_embeddings: bool = False,
    ) -> Hits:
        """See :meth:`ScopedVectorStore.query`."""
        return self._run(self._query(embedding, k, filter, distance, include_embeddings))

    def count(self, *, filter: WhereArg = None) -> int:
        """See :meth:`ScopedVectorStore.count`."""
        return self._run(self._count(filter))

    def scoped_select(
        self, entity: object = None, *, filter: WhereArg = None, action: Action = "view"
    ) -> Select[Any]:
        """See :meth:`ScopedVectorStore.scoped_select`."""
        return self._run(self._scoped_select(entity, filter, action))

    def configure(self, session: Session, *, k: int | None = None) -> None:
        """See :meth:`ScopedVectorStore.configure`."""
        if k is not None:
            check_positive_int(k, what="k")
        session.execute(self._sql.settings_statement(k=k))

    # -- the driver -------------------------------------------------------------------

    def _run[T](self, call: Call[T]) -> T:
        return run_sync(
            call.step,
            self.scope,
            blocking=self._on_loop,
            connect=functools.partial(self._transaction, self._bind, call.k),
            translate=translate_store_error,
        )

    def _on_loop[T](self, ask: Callable[[], Awaitable[T]]) -> T:
        """Run an auth coroutine on the loop that owns the permission client."""
        if self._portal is not None:
            result: T = self._portal.call(ask)
            return result
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise InvalidInputError(
                "SyncScopedVectorStore was called on an event loop thread, where it would "
                "block the loop; use ScopedVectorStore there"
            )
        try:
            return anyio.from_thread.run(_awaited, ask)
        except RuntimeError as exc:  # Scope.access raises PermissionServiceError, never this
            raise InvalidInputError(
                "SyncScopedVectorStore must reach the event loop that owns the permission "
                "client: call it from a worker thread of that loop (a FastAPI sync route, "
                "anyio.to_thread.run_sync) or pass portal=anyio.from_thread.BlockingPortal"
            ) from exc


async def _awaited[T](ask: Callable[[], Awaitable[T]]) -> T:
    return await ask()


def _await_on_loop[T](ask: Callable[[], Awaitable[T]]) -> T:
    """Await ``ask()`` on the running loop from inside the call's greenlet."""
    return await_only(ask())
