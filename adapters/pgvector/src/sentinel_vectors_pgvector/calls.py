"""What every call of a scoped pgvector store does, written once for both forms.

:class:`StoreCalls` checks a call's arguments (before any lookup) and builds its
workflow: one of :mod:`sentinel_vectors.engine`'s (top-k, listing, counting, put,
update, delete) over pgvector's sources and targets
(:mod:`sentinel_vectors_pgvector.operations`), as a :class:`Call`. The async
``ScopedVectorStore`` and the blocking ``SyncScopedVectorStore``
(:mod:`sentinel_vectors_pgvector.store`) only run it, each with its driver of
:mod:`sentinel_vectors.drive`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Required, TypedDict

from sqlalchemy import ColumnElement, Engine, Select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from sentinel_vectors.access import Access, Action
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.engine import (
    AskAccess,
    ReadSettings,
    Row,
    Step,
    counting,
    listing,
    put,
    top_k,
)
from sentinel_vectors.engine import delete as delete_workflow
from sentinel_vectors.engine import update as update_workflow
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, FilterCompiler, as_filter
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.scope import Scope
from sentinel_vectors.strategy import OverFetch, StrategyName
from sentinel_vectors.validation import as_id_list, check_positive_int
from sentinel_vectors_pgvector import operations as ops
from sentinel_vectors_pgvector.inputs import check_offset, query_vector, write_batch
from sentinel_vectors_pgvector.model import Distance
from sentinel_vectors_pgvector.results import Hit, Hits, Record
from sentinel_vectors_pgvector.statements import (
    ChunkStatements,
    IterativeScan,
    SearchSettings,
    as_vector,
    check_distance,
)

__all__ = ["DEFAULT_POSTFILTER_MIN_IDS", "Call", "StoreCalls", "StoreOptions", "WhereArg"]

DEFAULT_POSTFILTER_MIN_IDS: int | None = None
"""Accessible-list size from which ``auto`` post-filters a ``query`` (``None``: never).

The ``resource_id = ANY(:ids)`` pre-filter (the SDK's UUIDs bound as one ``uuid[]``)
costs what the hand-written query costs, and a plan cannot know the visible share
beforehand: pgvector pre-filters unless a caller opts in (see ``docs/benchmarks.md``).
"""

# pgvector binds the id list as one array parameter: no per-query limit to chunk under.
_NO_CHUNKING = 2**62

WhereArg = Filter | Mapping[str, Any] | None
"""A caller filter: the neutral algebra or a Chroma-style ``where`` dict."""


class StoreOptions(TypedDict, total=False):
    """The options of both stores (see :class:`~sentinel_vectors_pgvector.ScopedVectorStore`)."""

    model: Required[object]
    resource_type: Required[str]
    resource_key: str
    distance: Distance
    timeout: float
    iterative_scan: IterativeScan
    ef_search: int | None
    max_scan_tuples: int | None
    compiler: FilterCompiler[ColumnElement[bool]] | None
    strategy: StrategyName
    postfilter_min_ids: int | None
    overfetch: OverFetch | None


@dataclass(frozen=True, slots=True)
class Call[T]:
    """One call's workflow and the ``k`` of its search (for the transaction's settings)."""

    step: Step[T]
    k: int | None = None


def _returning[T](value: T) -> Step[T]:
    """A workflow that asks nothing (the call was decided from its arguments)."""
    yield from ()
    return value


class _Transactions:
    """The transaction of one call, on a sync ``Engine`` or ``Session``."""

    _sql: ChunkStatements

    @contextmanager
    def _transaction(self, bind: Engine | Session, k: int | None) -> Iterator[Connection | Session]:
        """The call's transaction (a SAVEPOINT inside the caller's), settings applied.

        Given an engine, a Core connection: the statements are Core statements, and an
        ORM session's bookkeeping would cost every call a little. The async store passes
        its bind's sync side (it runs the call in a greenlet, see ``store.py``).
        """
        settings = self._sql.settings_statement(k=k)
        if isinstance(bind, Engine):
            with bind.begin() as conn:
                conn.execute(settings)
                yield conn
            return
        with bind.begin_nested() if bind.in_transaction() else bind.begin():
            bind.execute(settings)
            yield bind


class StoreCalls(_Transactions):
    """Construction, introspection and the workflow of every call, for both forms."""

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
        if strategy not in ("auto", "prefilter", "postfilter"):
            raise InvalidInputError(
                f"strategy must be 'auto', 'prefilter' or 'postfilter' (the id list is one "
                f"array parameter, never chunked), got {strategy!r}"
            )
        if postfilter_min_ids is not None:
            check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self._sql = ChunkStatements(
            scope, model, distance=distance, search=settings, compiler=compiler
        )
        self._policy = TenancyPolicy(scope, collection=self._sql.table.fullname)
        self._reads = ReadSettings(
            strategy=strategy,
            max_ids_per_query=_NO_CHUNKING,
            postfilter_min_ids=postfilter_min_ids,
            overfetch=overfetch,
            native_ids=True,
        )

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._sql.scope

    @property
    def model(self) -> object:
        """The chunk model (mapped class or ``Table``) this store reads and writes."""
        return self._sql.model

    @property
    def dimension(self) -> int:
        """The embedding dimension of the table."""
        return self._sql.dim

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this store was built (should be 0)."""
        return self._policy.violations

    def __repr__(self) -> str:
        scope = self._sql.scope
        return (
            f"{type(self).__name__}(table={self._sql.table.fullname!r}, "
            f"workspace_id={scope.workspace_id!r}, user_id={scope.user_id!r}, "
            f"resource_type={scope.resource_type!r})"
        )

    # -- the workflows (arguments checked here, before any lookup) ----------------------

    def _caller(self, where: WhereArg) -> Filter | None:
        """The caller's filter as a neutral node, refused if it names a tenancy key."""
        flt = as_filter(where)
        if flt is None:
            return None
        self._policy.check_caller_filter(flt)
        self._sql.compiler.compile(flt)  # refuse what cannot compile before any lookup
        return flt

    def _put(
        self, op: str, ids: Any, embeddings: Any, metadatas: Any, documents: Any
    ) -> Call[None]:
        batch = write_batch(
            op, ids, embeddings, metadatas, documents, full=True,
            scope=self._sql.scope, dim=self._sql.dim,
        )  # fmt: skip
        assert batch.metadatas is not None
        metadatas_ = batch.metadatas

        def run() -> Step[None]:
            target = ops.Writes(self._sql, batch)
            kind: Literal["add", "upsert"] = "upsert" if op == "upsert" else "add"
            yield from put(
                self._policy, target, kind, ids=batch.ids, pids=batch.ids, metadatas=metadatas_
            )

        return Call(run())

    def _update(self, ids: Any, embeddings: Any, metadatas: Any, documents: Any) -> Call[int]:
        batch = write_batch(
            "update", ids, embeddings, metadatas, documents, full=False,
            scope=self._sql.scope, dim=self._sql.dim,
        )  # fmt: skip

        def run() -> Step[int]:
            target = ops.Writes(self._sql, batch)
            kept = yield from update_workflow(
                self._policy,
                target,
                ids=batch.ids,
                pids=batch.ids,
                metadatas=batch.metadatas,
                # The probe locks the rows (FOR UPDATE): ask Sentinel before it.
                view_first=True,
            )
            return len(kept)

        return Call(run())

    def _delete(self, ids: Any, where: WhereArg) -> Call[int]:
        if ids is None and where is None:
            raise InvalidInputError("delete() needs ids or a filter")
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        caller = self._caller(where)
        if id_list == []:
            return Call(_returning(0))

        def run() -> Step[int]:
            deleted = yield from delete_workflow(
                self._policy,
                ops.Writes(self._sql),
                ids=id_list,
                pids=id_list,
                caller=caller,
                max_ids_per_query=_NO_CHUNKING,
                view_first=True,
            )
            return len(deleted)

        return Call(run())

    def _get(
        self,
        ids: Any,
        where: WhereArg,
        limit: int | None,
        offset: int | None,
        include_embeddings: bool,
    ) -> Call[list[Record]]:
        id_list = None if ids is None else as_id_list(ids, allow_empty=True)
        if limit is not None:
            check_positive_int(limit, what="limit")
        off = check_offset(offset)
        caller = self._caller(where)
        source = ops.Listing(self._sql, id_list, include_embeddings=include_embeddings)

        def run() -> Step[list[Record]]:
            out = yield from listing(
                self._policy, source, caller=caller, settings=self._reads, limit=limit, offset=off
            )
            return [_record(row, include_embeddings) for row in out.rows]

        return Call(run())

    def _query(
        self,
        embedding: Any,
        k: int,
        where: WhereArg,
        distance: Distance | None,
        include_embeddings: bool,
    ) -> Call[Hits]:
        vector = query_vector(embedding, self._sql.dim)
        check_positive_int(k, what="k")
        dist = self._sql.distance if distance is None else check_distance(distance)
        caller = self._caller(where)
        source = ops.Search(
            self._sql, vector, k=k, distance=dist, include_embeddings=include_embeddings
        )

        def run() -> Step[Hits]:
            out = yield from top_k(
                self._policy, source, k=k, n_queries=1, caller=caller, settings=self._reads
            )
            hits = [_hit(row, include_embeddings) for row in out.hits[0]]
            return Hits.of(hits, complete=out.complete)

        return Call(run(), k=k)

    def _count(self, where: WhereArg) -> Call[int]:
        caller = self._caller(where)

        def run() -> Step[int]:
            out = yield from counting(
                self._policy, ops.Counting(self._sql), caller=caller, settings=self._reads
            )
            return out.count

        return Call(run())

    def _scoped_select(self, entity: object, where: WhereArg, action: Action) -> Call[Select[Any]]:
        caller = self._caller(where)

        def run() -> Step[Select[Any]]:
            access: Access = yield AskAccess(action)
            flt = self._policy.read_filter(access, caller)
            return self._sql.scoped_select(flt, self.model if entity is None else entity)

        return Call(run())


def _record(row: Row, include_embeddings: bool) -> Record:
    native = row.native
    emb = as_vector(native[6]) if include_embeddings else None
    return Record(row.pid, native[4], _meta(row), emb)


def _hit(row: Row, include_embeddings: bool) -> Hit:
    native = row.native
    emb = as_vector(native[6]) if include_embeddings else None
    return Hit(row.pid, row.distance, native[4], _meta(row), emb)


def _meta(row: Row) -> dict[str, Any]:
    meta = row.meta  # built by ChunkStatements.metadata: a fresh dict per row
    return meta if isinstance(meta, dict) else dict(meta)
