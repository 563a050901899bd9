"""``ScopedVectorStore``: a pgvector chunk repository bound to one caller's scope.

Every call asks the permission service first (outside any transaction), then runs in
ONE transaction that starts with ``SET LOCAL sentinel.workspace_id`` (for row-level
security) and, for a search, the HNSW settings. A failed call rolls its transaction
back: a batch is written entirely or not at all.

Transactions: given an engine, the store opens and commits its own. Given a session
that is idle, it begins and commits a transaction on it; given a session already inside
a transaction (your unit of work), it runs in a SAVEPOINT and leaves the commit to you.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate

import anyio.from_thread
from sqlalchemy import ColumnElement, Engine, Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import FilterCompiler
from sentinel_vectors.scope import Access, Action, Scope
from sentinel_vectors.strategy import OverFetch, StrategyName
from sentinel_vectors.validation import as_id_list, check_positive_int
from sentinel_vectors_pgvector._core import (
    DEFAULT_POSTFILTER_MIN_IDS,
    Hits,
    IterativeScan,
    Record,
    SearchSettings,
    StoreCore,
    Tx,
    WhereArg,
)
from sentinel_vectors_pgvector.model import Distance

__all__ = ["ScopedVectorStore", "SyncScopedVectorStore"]


def _offset(offset: object) -> int | None:
    if offset is None:
        return None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
    return offset


class _Base:
    """Construction and introspection shared by the async and the sync store."""

    _core: StoreCore

    def __init__(
        self,
        auth: AuthContext | None,
        *,
        model: object,
        resource_type: str,
        resource_key: str = "resource_id",
        distance: Distance = "cosine",
        timeout: float = 5.0,
        iterative_scan: IterativeScan = "relaxed_order",
        ef_search: int | None = None,
        max_scan_tuples: int | None = None,
        compiler: FilterCompiler[ColumnElement[bool]] | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
    ) -> None:
        scope = Scope.of(
            auth, resource_type=resource_type, resource_key=resource_key, timeout=timeout
        )
        settings = SearchSettings(iterative_scan, ef_search, max_scan_tuples)
        self._core = StoreCore(
            scope,
            model,
            distance=distance,
            search=settings,
            compiler=compiler,
            strategy=strategy,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
        )

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._core.scope

    @property
    def model(self) -> object:
        """The chunk model (mapped class or ``Table``) this store reads and writes."""
        return self._core.model

    @property
    def dimension(self) -> int:
        """The embedding dimension of the table."""
        return self._core.dim

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this store was built (should be 0)."""
        return self._core.policy.violations

    def __repr__(self) -> str:
        scope = self._core.scope
        return (
            f"{type(self).__name__}(table={self._core.table.fullname!r}, "
            f"workspace_id={scope.workspace_id!r}, user_id={scope.user_id!r}, "
            f"resource_type={scope.resource_type!r})"
        )


class ScopedVectorStore(_Base):
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
        *,
        model: object,
        resource_type: str,
        resource_key: str = "resource_id",
        distance: Distance = "cosine",
        timeout: float = 5.0,
        iterative_scan: IterativeScan = "relaxed_order",
        ef_search: int | None = None,
        max_scan_tuples: int | None = None,
        compiler: FilterCompiler[ColumnElement[bool]] | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
    ) -> None:
        super().__init__(
            auth,
            model=model,
            resource_type=resource_type,
            resource_key=resource_key,
            distance=distance,
            timeout=timeout,
            iterative_scan=iterative_scan,
            ef_search=ef_search,
            max_scan_tuples=max_scan_tuples,
            compiler=compiler,
            strategy=strategy,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
        )
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
        await self._write("add", ids, embeddings, metadatas, documents)

    async def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """Insert or replace chunks; replacing needs edit access to the stored chunk."""
        await self._write("upsert", ids, embeddings, metadatas, documents)

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
        batch = self._core.batch("update", ids, embeddings, metadatas, documents, full=False)
        edit = await self._access("edit")
        view = edit if edit.full else await self._access("view")
        return await self._run(self._core.update_tx, batch, edit, view)

    async def delete(
        self, ids: str | Sequence[str] | None = None, *, filter: WhereArg = None
    ) -> int:
        """Delete chunks the caller may edit, by id and/or filter; returns how many.

        Named ids of chunks the caller may not view count as absent (invariant 9); named
        chunks it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a
        filter only ever matches editable chunks.
        """
        if ids is None and filter is None:
            raise InvalidInputError("delete() needs ids or a filter")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        caller = self._core.caller_filter(filter)
        if id_list == []:
            return 0
        edit = await self._access("edit")
        if id_list is None and edit.is_empty:
            return 0
        view = edit if edit.full or id_list is None else await self._access("view")
        return await self._run(self._core.delete_tx, id_list, caller, edit, view)

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
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        off = _offset(offset)
        caller = self._core.caller_filter(filter)
        access = await self._access("view")
        flt = self._core.policy.read_filter(access, caller)
        if flt is None or id_list == []:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return []
        return await self._run(
            self._core.get_tx,
            flt,
            access,
            ids=id_list,
            limit=limit,
            offset=off,
            include_embeddings=include_embeddings,
        )

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
        vector = self._core.query_vector(embedding)
        check_positive_int(k, what="k")
        dist = self._core.check_distance(distance)
        caller = self._core.caller_filter(filter)
        access = await self._access("view")
        plan = self._core.query_plan(access, caller, k)
        if plan is None:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return Hits()
        return await self._run(
            self._core.query_tx,
            plan,
            access,
            vector=vector,
            k=k,
            distance=dist,
            include_embeddings=include_embeddings,
        )

    async def count(self, *, filter: WhereArg = None) -> int:
        """How many chunks the caller may view (never the table's total)."""
        caller = self._core.caller_filter(filter)
        access = await self._access("view")
        flt = self._core.policy.read_filter(access, caller)
        if flt is None:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return 0
        return await self._run(self._core.count_tx, flt, access)

    async def scoped_select(
        self, entity: object = None, *, filter: WhereArg = None, action: Action = "view"
    ) -> Select[Any]:
        """``select(entity)`` already constrained to what the caller may ``action``.

        ``entity`` defaults to the store's model. Compose it (joins, full-text, ORDER
        BY a distance, LIMIT) and run it inside :meth:`session`, which applies the
        ``SET LOCAL`` settings. Rows you read this way do not pass the store's per-hit
        re-check: the constraint is the WHERE clause alone.
        """
        caller = self._core.caller_filter(filter)
        access = await self._access(action)
        return self._core.scoped_select(access, caller, self.model if entity is None else entity)

    async def configure(self, session: AsyncSession, *, k: int | None = None) -> None:
        """Run the store's ``SET LOCAL`` settings in ``session``'s current transaction.

        Sets ``sentinel.workspace_id`` (row-level security) and, given the ``k`` of a
        search, the HNSW settings. Use it before running a :meth:`scoped_select`.
        """
        if k is not None:
            check_positive_int(k, what="k")
        await session.execute(self._core.settings_statement(k=k))

    # -- internals --------------------------------------------------------------------

    async def _access(self, action: Action) -> Access:
        return await self._core.scope.access(action)

    async def _write(
        self, op: str, ids: Any, embeddings: Any, metadatas: Any, documents: Any
    ) -> None:
        core = self._core
        batch = core.batch(op, ids, embeddings, metadatas, documents, full=True)
        edit = await self._access("edit")
        await core.policy.authorize_resources(edit, core.resources_of(batch))
        await self._run(core.write_tx, batch, edit, upsert=op == "upsert")

    # -- internals: whole resources (the lifecycle's chunk index) ----------------------

    async def _remove_resource(self, resource_id: str, keep: Sequence[str] = ()) -> int:
        """Delete every chunk of the resource in the workspace but ``keep``, if editable."""
        flt = self._core.policy.resource_filter(await self._access("edit"), resource_id)
        if flt is None:
            return 0
        return await self._run(self._core.remove_resource_tx, flt, list(keep))

    async def _count_resource(self, resource_id: str) -> int:
        """How many chunks of the resource the caller may view (0 if out of reach)."""
        flt = self._core.policy.resource_filter(await self._access("view"), resource_id)
        if flt is None:
            return 0
        return await self._run(self._core.count_resource_tx, flt)

    async def _resource_owners(self, resource_id: str) -> set[object]:
        """Owners of the resource's chunks in the workspace, whatever the caller may see.

        For the lifecycle's claim check only; never returned to a caller.
        """
        full = Access(action="view", full=True, resource_ids=frozenset())
        flt = self._core.policy.resource_filter(full, resource_id)
        assert flt is not None
        return await self._run(self._core.resource_owners_tx, flt)

    async def _run[**P, T](
        self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        bind = self._bind
        if isinstance(bind, AsyncEngine):
            # A Core connection, not an ORM session: the statements are Core statements,
            # and a session's bookkeeping costs every call a little.
            async with bind.begin() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        if bind.in_transaction():
            async with bind.begin_nested():
                return await bind.run_sync(fn, *args, **kwargs)
        async with bind.begin():
            return await bind.run_sync(fn, *args, **kwargs)


class SyncScopedVectorStore(_Base):
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
        model: object,
        resource_type: str,
        resource_key: str = "resource_id",
        distance: Distance = "cosine",
        timeout: float = 5.0,
        iterative_scan: IterativeScan = "relaxed_order",
        ef_search: int | None = None,
        max_scan_tuples: int | None = None,
        compiler: FilterCompiler[ColumnElement[bool]] | None = None,
        portal: anyio.from_thread.BlockingPortal | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | None = DEFAULT_POSTFILTER_MIN_IDS,
        overfetch: OverFetch | None = None,
    ) -> None:
        super().__init__(
            auth,
            model=model,
            resource_type=resource_type,
            resource_key=resource_key,
            distance=distance,
            timeout=timeout,
            iterative_scan=iterative_scan,
            ef_search=ef_search,
            max_scan_tuples=max_scan_tuples,
            compiler=compiler,
            strategy=strategy,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
        )
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
        self._write("add", ids, embeddings, metadatas, documents)

    def upsert(
        self,
        ids: str | Sequence[str],
        embeddings: Any,
        metadatas: Any,
        documents: str | Sequence[str | None] | None = None,
    ) -> None:
        """See :meth:`ScopedVectorStore.upsert`."""
        self._write("upsert", ids, embeddings, metadatas, documents)

    def update(
        self,
        ids: str | Sequence[str],
        embeddings: Any = None,
        metadatas: Any = None,
        documents: str | Sequence[str | None] | None = None,
    ) -> int:
        """See :meth:`ScopedVectorStore.update`."""
        batch = self._core.batch("update", ids, embeddings, metadatas, documents, full=False)
        edit = self._access("edit")
        view = edit if edit.full else self._access("view")
        return self._run(self._core.update_tx, batch, edit, view)

    def delete(self, ids: str | Sequence[str] | None = None, *, filter: WhereArg = None) -> int:
        """See :meth:`ScopedVectorStore.delete`."""
        if ids is None and filter is None:
            raise InvalidInputError("delete() needs ids or a filter")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        caller = self._core.caller_filter(filter)
        if id_list == []:
            return 0
        edit = self._access("edit")
        if id_list is None and edit.is_empty:
            return 0
        view = edit if edit.full or id_list is None else self._access("view")
        return self._run(self._core.delete_tx, id_list, caller, edit, view)

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
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        off = _offset(offset)
        caller = self._core.caller_filter(filter)
        access = self._access("view")
        flt = self._core.policy.read_filter(access, caller)
        if flt is None or id_list == []:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return []
        return self._run(
            self._core.get_tx,
            flt,
            access,
            ids=id_list,
            limit=limit,
            offset=off,
            include_embeddings=include_embeddings,
        )

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
        vector = self._core.query_vector(embedding)
        check_positive_int(k, what="k")
        dist = self._core.check_distance(distance)
        caller = self._core.caller_filter(filter)
        access = self._access("view")
        plan = self._core.query_plan(access, caller, k)
        if plan is None:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return Hits()
        return self._run(
            self._core.query_tx,
            plan,
            access,
            vector=vector,
            k=k,
            distance=dist,
            include_embeddings=include_embeddings,
        )

    def count(self, *, filter: WhereArg = None) -> int:
        """See :meth:`ScopedVectorStore.count`."""
        caller = self._core.caller_filter(filter)
        access = self._access("view")
        flt = self._core.policy.read_filter(access, caller)
        if flt is None:
            self._core.policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return 0
        return self._run(self._core.count_tx, flt, access)

    def scoped_select(
        self, entity: object = None, *, filter: WhereArg = None, action: Action = "view"
    ) -> Select[Any]:
        """See :meth:`ScopedVectorStore.scoped_select`."""
        caller = self._core.caller_filter(filter)
        access = self._access(action)
        return self._core.scoped_select(access, caller, self.model if entity is None else entity)

    def configure(self, session: Session, *, k: int | None = None) -> None:
        """See :meth:`ScopedVectorStore.configure`."""
        if k is not None:
            check_positive_int(k, what="k")
        session.execute(self._core.settings_statement(k=k))

    # -- internals --------------------------------------------------------------------

    def _write(self, op: str, ids: Any, embeddings: Any, metadatas: Any, documents: Any) -> None:
        core = self._core
        batch = core.batch(op, ids, embeddings, metadatas, documents, full=True)
        edit = self._access("edit")
        self._on_loop(
            functools.partial(core.policy.authorize_resources, edit, core.resources_of(batch))
        )
        self._run(core.write_tx, batch, edit, upsert=op == "upsert")

    def _access(self, action: Action) -> Access:
        return self._on_loop(functools.partial(self._core.scope.access, action))

    def _on_loop[T](self, ask: Callable[[], Coroutine[Any, Any, T]]) -> T:
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
            return anyio.from_thread.run(ask)
        except RuntimeError as exc:  # Scope.access raises PermissionServiceError, never this
            raise InvalidInputError(
                "SyncScopedVectorStore must reach the event loop that owns the permission "
                "client: call it from a worker thread of that loop (a FastAPI sync route, "
                "anyio.to_thread.run_sync) or pass portal=anyio.from_thread.BlockingPortal"
            ) from exc

    def _run[**P, T](
        self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        bind = self._bind
        if isinstance(bind, Engine):
            with bind.begin() as conn:
                return fn(conn, *args, **kwargs)
        if bind.in_transaction():
            with bind.begin_nested():
                return fn(bind, *args, **kwargs)
        with bind.begin():
            return fn(bind, *args, **kwargs)
