"""``ScopedQdrantClient``: a Qdrant client that only ever sees the caller's scope.

It keeps ``QdrantClient``'s method names and arguments for point operations (``upsert``,
``upload_points``, ``query_points``, ``query_batch_points``, ``query_points_groups``,
``scroll``, ``retrieve``, ``count``, ``facet``, ``delete``, ``set_payload``,
``overwrite_payload``, ``delete_payload``, ``clear_payload``, ``update_vectors``,
``delete_vectors``) as coroutines, over an ``AsyncQdrantClient`` or a sync
``QdrantClient`` (whose calls run in a worker thread). Nothing else of the native client
is reachable through it: collection administration goes through
:func:`sentinel_vectors_qdrant.ensure_collection` or the native client, outside the scope.

Every tenancy decision is made by :class:`sentinel_vectors.policy.TenancyPolicy`; this
module validates Qdrant arguments, compiles filters and calls the native client.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel, PrivateAttr
from pydantic_core import to_jsonable_python
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse
from qdrant_client.http.models import QueryResponse

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import (
    AccessDeniedError,
    FilterError,
    InvalidInputError,
    StoreUnavailableError,
    WriteConflictError,
    is_store_outage,
)
from sentinel_vectors.filters import (
    And,
    Comparison,
    Filter,
    FilterCompiler,
    Membership,
    Not,
    Or,
    filter_keys,
)
from sentinel_vectors.policy import AUDIT_LOGGER, ExistingRecord, TenancyPolicy
from sentinel_vectors.scope import OWNER_KEY, WORKSPACE_KEY, Access, Scope
from sentinel_vectors.strategy import (
    DEFAULT_MAX_IDS_PER_QUERY,
    OverFetch,
    ReadPlan,
    StrategyName,
    plan_read,
    postfilter_top_k,
)
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_qdrant.compiler import (
    QdrantCondition,
    QdrantFilterCompiler,
    inspect_filter,
    root_key,
)
from sentinel_vectors_qdrant.points import (
    ID_KEY,
    LogicalId,
    PayloadView,
    PointIds,
    VectorSpace,
    check_payload,
)

__all__ = [
    "DEFAULT_POSTFILTER_MIN_IDS",
    "LOCAL_POSTFILTER_MIN_IDS",
    "ScopedQdrantClient",
    "ScopedQueryResponse",
]

DEFAULT_POSTFILTER_MIN_IDS: int | None = None
"""Accessible-list size from which ``auto`` post-filters ``query_points`` on a Qdrant server.

``None``: a server always pre-filters. One ``MatchAny`` on the keyword-indexed resource
key is Qdrant's own filtered-search path (payload index, ``is_tenant``, filterable HNSW);
this repository's machine has no Qdrant server, so no measurement overrides it.
"""

LOCAL_POSTFILTER_MIN_IDS = 1_000
"""The same threshold in local mode (``QdrantClient(":memory:")`` or ``path=...``).

Local mode tests ``MatchAny`` point by point in Python, so a pre-filter costs time
linear in points x ids (``docs/benchmarks.md``: seconds at 10,000 ids); the post-filter
tests ids against a set.
"""


class ScopedQueryResponse(QueryResponse):
    """``QueryResponse`` plus the read's :attr:`complete` flag.

    A subclass: ``points`` and ``model_dump()`` are exactly the native response's. The
    flag is ``False`` only when a forced ``postfilter`` read could not fill ``limit``
    within its over-fetch (see :mod:`sentinel_vectors.strategy`).
    """

    _complete: bool = PrivateAttr(default=True)

    @property
    def complete(self) -> bool:
        """Whether the read could not have missed hits the caller may view."""
        return self._complete

    @classmethod
    def of(cls, points: list[models.ScoredPoint], *, complete: bool = True) -> ScopedQueryResponse:
        """A response holding ``points``."""
        out = cls(points=points)
        out._complete = complete
        return out


_audit = logging.getLogger(AUDIT_LOGGER)

_NEUTRAL = (Comparison, Membership, And, Or, Not)
# Ids per native lookup or write request we issue ourselves.
_ID_BATCH = 256
# Update operations per batch_update_points request (overwrite/clear payload).
_OPS_BATCH = 128
# Query kinds that carry no point ids and no payload keys of their own.
_PLAIN_QUERIES = frozenset({"OrderByQuery", "FusionQuery", "SampleQuery", "RrfQuery"})

PointsSelectorArg = (
    Sequence[Any] | models.PointIdsList | models.FilterSelector | models.Filter | Filter
)
"""What the write methods accept to select points: ids, a filter, or a native selector."""


@dataclass(frozen=True, slots=True)
class _Caller:
    """A caller's filter, validated: Qdrant-native (ids translated) and/or neutral."""

    native: models.Filter | None = None
    neutral: Filter | None = None


@dataclass
class _Point:
    logical: LogicalId
    pid: str
    vector: Any
    payload: dict[str, Any]


@dataclass
class _Query:
    """One query (top level or one ``QueryRequest``) with caller inputs validated."""

    query: Any
    prefetch: list[models.Prefetch] | models.Prefetch | None
    caller: _Caller
    refs: dict[str, LogicalId] = field(default_factory=dict)


@dataclass
class _Selection:
    """Points a write targets: named ids, or a filter."""

    ids: dict[str, LogicalId] | None
    caller: _Caller


class ScopedQdrantClient:
    """A Qdrant client bound to one caller's workspace and permissions.

    Args:
        client: a ``qdrant_client.AsyncQdrantClient`` or ``QdrantClient``.
        auth: the request's ``sentinel_auth.RequestAuth`` (any :class:`AuthContext`).
        resource_type: the Sentinel resource type of the points' parent (``"document"``).
        resource_key: the payload key naming each point's resource id.
        timeout: seconds to wait for the permission service before failing closed.
        search_params: default ``search_params`` for queries that pass none (for
            example ACORN: ``models.SearchParams(acorn=models.AcornSearchParams(enable=True))``
            on servers that support it).
        strategy: force a read strategy for ``query_points`` (see
            :mod:`sentinel_vectors.strategy`); other reads always pre-filter.
        postfilter_min_ids: accessible-list size from which ``auto`` post-filters
            ``query_points`` (``None``: never). Default: :data:`DEFAULT_POSTFILTER_MIN_IDS`
            on a server, :data:`LOCAL_POSTFILTER_MIN_IDS` in local mode.
        overfetch: the post-filter's fetch schedule.
        compiler: the filter compiler (a seam for tests and extensions).

    Point ids are stored as ``uuid5(namespace, "<workspace_id>:<id>")`` so ids never
    collide across workspaces; the caller's id is kept in the payload and returned as
    written. Filters may be ``models.Filter`` (nested under the tenancy filter, so they
    only narrow) or a :mod:`sentinel_vectors.filters` node.
    """

    def __init__(
        self,
        client: AsyncQdrantClient | QdrantClient,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
        search_params: models.SearchParams | None = None,
        strategy: StrategyName = "auto",
        postfilter_min_ids: int | Literal["default"] | None = "default",
        overfetch: OverFetch | None = None,
        compiler: FilterCompiler[QdrantCondition] | None = None,
    ) -> None:
        scope = Scope.of(
            auth, resource_type=resource_type, resource_key=resource_key, timeout=timeout
        )
        if resource_key == ID_KEY:
            raise InvalidInputError(f"resource_key may not be {ID_KEY!r}: it holds the point id")
        if not isinstance(client, AsyncQdrantClient | QdrantClient):
            raise InvalidInputError(
                "client must be a qdrant_client.AsyncQdrantClient or QdrantClient, got "
                f"{type(client).__name__}"
            )
        if search_params is not None and not isinstance(search_params, models.SearchParams):
            raise InvalidInputError("search_params must be a models.SearchParams")
        self._client = client
        self._is_async = isinstance(client, AsyncQdrantClient)
        self._policy = TenancyPolicy(scope, collection="?")
        self._ids = PointIds(self._policy.physical_id)
        self._compiler: FilterCompiler[QdrantCondition] = compiler or QdrantFilterCompiler()
        self._search_params = search_params
        if strategy not in ("auto", "prefilter", "postfilter"):
            raise InvalidInputError(
                f"strategy must be 'auto', 'prefilter' or 'postfilter' (one MatchAny needs no "
                f"chunking), got {strategy!r}"
            )
        self._strategy: StrategyName = strategy
        if postfilter_min_ids == "default":
            local = type(getattr(client, "_client", None)).__name__.endswith("QdrantLocal")
            postfilter_min_ids = LOCAL_POSTFILTER_MIN_IDS if local else DEFAULT_POSTFILTER_MIN_IDS
        self._postfilter_min_ids = (
            None
            if postfilter_min_ids is None
            else check_positive_int(postfilter_min_ids, what="postfilter_min_ids")
        )
        if overfetch is not None and not isinstance(overfetch, OverFetch):
            raise InvalidInputError("overfetch must be a sentinel_vectors.strategy.OverFetch")
        self._overfetch = overfetch
        self._spaces: dict[str, VectorSpace] = {}

    # -- introspection ---------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The caller's scope (workspace, user, role, resource type and key)."""
        return self._policy.scope

    @property
    def violations(self) -> int:
        """Hits dropped by the per-hit re-check since this wrapper was built (should be 0)."""
        return self._policy.violations

    def __repr__(self) -> str:
        scope = self._policy.scope
        return (
            f"ScopedQdrantClient(workspace_id={scope.workspace_id!r}, user_id={scope.user_id!r}, "
            f"resource_type={scope.resource_type!r})"
        )

    # -- writes: points --------------------------------------------------------------

    async def upsert(
        self,
        collection_name: str,
        points: models.Batch | Sequence[models.PointStruct],
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Insert or replace points, stamped with the caller's workspace, owner and resource.

        Each payload must name its resource under the resource key. Everything is checked
        before the one native ``upsert`` request: ids, vector names and sizes, payloads,
        tenancy keys and the write rule. If the request fails, points it may have
        written are rolled back (see ``docs/qdrant.md``) and the error is re-raised.
        The write is conditional (invariant 10): a point another writer created or moved
        out of the caller's editable scope after the check is left as it is and
        :class:`~sentinel_vectors.errors.WriteConflictError` is raised, nothing written.
        """
        prepared = await self._prepare_points(collection_name, points)
        structs, snapshots, overwritable = await self._authorize_points(collection_name, prepared)
        return await self._write_points(
            collection_name,
            [structs],
            snapshots,
            overwritable,
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
            max_retries=0,
        )

    async def upload_points(
        self,
        collection_name: str,
        points: Iterable[models.PointStruct],
        batch_size: int = 64,
        parallel: int = 1,
        method: str | None = None,
        max_retries: int = 3,
        wait: bool = False,
        shard_key_selector: Any = None,
    ) -> None:
        """Upload points in batches of ``batch_size`` upsert requests.

        Unlike the native method, every point is validated and authorized before the first
        batch is sent (the iterable is read whole), batches are sent one after another
        (``parallel`` and ``method`` are accepted and ignored), and if a batch still fails
        after ``max_retries`` retries, the batches already written are rolled back.
        Requests always wait (``wait`` is ignored): each batch is read back to verify
        the conditional write (see :meth:`upsert`).
        """
        check_positive_int(batch_size, what="batch_size")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be a non-negative int, got {max_retries!r}")
        if isinstance(points, models.Batch) or not isinstance(points, Iterable):
            raise InvalidInputError("upload_points takes an iterable of models.PointStruct")
        prepared = await self._prepare_points(collection_name, list(points))
        structs, snapshots, overwritable = await self._authorize_points(collection_name, prepared)
        batches = [structs[i : i + batch_size] for i in range(0, len(structs), batch_size)]
        await self._write_points(
            collection_name,
            batches,
            snapshots,
            overwritable,
            wait=wait,
            ordering=None,
            shard_key_selector=shard_key_selector,
            timeout=None,
            max_retries=max_retries,
        )

    async def update_vectors(
        self,
        collection_name: str,
        points: Sequence[models.PointVectors],
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Replace the named vectors of existing points the caller may edit.

        Every id must name an existing point of the caller's workspace that it may view
        (as natively, a missing point is an error, and a hidden one is missing), editable
        by the caller; otherwise nothing is written.
        """
        if isinstance(points, str | bytes) or not isinstance(points, Sequence) or not points:
            raise InvalidInputError("points must be a non-empty list of models.PointVectors")
        space = await self._space(collection_name)
        pids: list[str] = []
        logical: dict[str, LogicalId] = {}
        vectors: list[Any] = []
        for i, point in enumerate(points):
            if not isinstance(point, models.PointVectors):
                raise InvalidInputError(
                    f"points[{i}] must be a models.PointVectors, got {type(point).__name__}"
                )
            lid, _ = PointIds.logical(point.id, what=f"points[{i}].id")
            pid = self._ids.physical(point.id)
            if pid in logical:
                raise InvalidInputError(f"points repeat id {point.id!r}; pass each point once")
            vector = space.point_vector(point.vector, what=f"points[{i}].vector")
            if isinstance(vector, Mapping) and not vector:
                raise InvalidInputError(f"points[{i}].vector names no vector to update")
            pids.append(pid)
            logical[pid] = lid
            vectors.append(vector)
        self._policy.collection = collection_name
        edit = await self.scope.access("edit")
        stored = await self._records(collection_name, pids, with_vectors=False)
        # A point the caller may not view is missing, exactly like an absent id.
        reached = await self._reachable(stored, edit, logical)
        missing = [logical[p] for p in pids if p not in reached]
        if missing:
            raise InvalidInputError(
                f"no point {missing[0]!r} in the caller's workspace; update_vectors only "
                f"changes existing points. Nothing was written."
            )
        # Invariant 10: a point moved out of the caller's editable scope after the check
        # is skipped by Qdrant, not overwritten.
        allowed = self._policy.overwritable(edit)
        if allowed is None:
            return _completed()
        result: models.UpdateResult = await self._call(
            "update_vectors",
            collection_name=collection_name,
            update_filter=_to_filter(self._compiler, allowed),
            points=[
                models.PointVectors(id=pid, vector=vec)
                for pid, vec in zip(pids, vectors, strict=True)
            ],
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        return result

    async def delete(
        self,
        collection_name: str,
        points_selector: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Delete points the caller may edit, by ids or by filter.

        Named ids of points the caller may not view are treated as absent (invariant 9);
        named points it may view but not edit raise
        :class:`~sentinel_vectors.errors.AccessDeniedError` and nothing is deleted; a filter
        only ever reaches editable points.
        """
        return await self._update_selected(
            "delete",
            collection_name,
            points_selector,
            lambda selector: {"points_selector": selector},
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    async def delete_vectors(
        self,
        collection_name: str,
        vectors: Sequence[str],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Delete named vectors of points the caller may edit."""
        if isinstance(vectors, str) or not isinstance(vectors, Sequence) or not vectors:
            raise InvalidInputError("vectors must be a non-empty list of vector names")
        space = await self._space(collection_name)
        names: list[str] = []
        for v in vectors:
            if not isinstance(v, str):
                raise InvalidInputError(f"vector names must be strings, got {v!r}")
            names.append(space.check_name(v, what="delete_vectors"))
        return await self._update_selected(
            "delete_vectors",
            collection_name,
            points,
            lambda selector: {"vectors": list(names), "points": selector},
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    # -- writes: payload -------------------------------------------------------------

    async def set_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: PointsSelectorArg,
        key: str | None = None,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Merge ``payload`` into points the caller may edit (below ``key`` if given).

        Tenancy keys may be repeated only with each point's stored values; they are never
        changed in place (delete the point and upsert it again to move it).
        """
        values = check_payload(payload, what="payload")
        if key is not None:
            self._check_keys([key])
        selection = self._selection(points)
        self._policy.collection = collection_name
        edit = await self.scope.access("edit")
        targets = await self._targets(collection_name, selection, edit)
        if key is None and values.keys() & self.scope.reserved_keys:
            self._policy.check_partial_update(
                [values] * len(targets),
                {i: self._existing(r) for i, r in enumerate(targets)},
            )
            values = {k: v for k, v in values.items() if k not in self.scope.reserved_keys}
        if not values:
            return _completed()
        return await self._apply_to(
            "set_payload",
            collection_name,
            targets,
            edit,
            lambda selector: {"payload": values, "points": selector, "key": key},
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    async def overwrite_payload(
        self,
        collection_name: str,
        payload: Mapping[str, Any],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Replace the payload of points the caller may edit; tenancy keys are kept."""
        values = check_payload(payload, what="payload")
        return await self._overwrite(
            collection_name,
            values,
            points,
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    async def clear_payload(
        self,
        collection_name: str,
        points_selector: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Remove every payload key but the tenancy keys from points the caller may edit."""
        return await self._overwrite(
            collection_name,
            {},
            points_selector,
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    async def delete_payload(
        self,
        collection_name: str,
        keys: Sequence[str],
        points: PointsSelectorArg,
        wait: bool = True,
        ordering: models.WriteOrdering | None = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.UpdateResult:
        """Remove payload ``keys`` from points the caller may edit; tenancy keys stay."""
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
            raise InvalidInputError("keys must be a non-empty list of payload keys")
        self._check_keys(keys)
        key_list = list(keys)
        return await self._update_selected(
            "delete_payload",
            collection_name,
            points,
            lambda selector: {"keys": key_list, "points": selector},
            wait=wait,
            ordering=ordering,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )

    # -- reads -----------------------------------------------------------------------

    async def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: models.Prefetch | list[models.Prefetch] | None = None,
        query_filter: models.Filter | Filter | None = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: bool | Sequence[str] = False,
        score_threshold: float | None = None,
        lookup_from: models.LookupLocation | None = None,
        consistency: Any = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> QueryResponse:
        """Nearest neighbours (or any universal query) among the points the caller may view.

        A point id as ``query`` (or inside a recommend/discover/context query) must name a
        point the caller may view. ``prefetch`` stages are scoped like the main query.
        Returns a :class:`ScopedQueryResponse` (a ``QueryResponse`` with ``complete``).
        A query with ``prefetch`` or ``offset`` always pre-filters.
        """
        check_positive_int(limit, what="limit")
        space = await self._space(collection_name)
        self._check_lookup(collection_name, lookup_from)
        request = self._prepare_query(space, query, using, prefetch, query_filter, collection_name)
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = await self.scope.access("view")
        scoped = await self._scoped_query(collection_name, request, access)
        if scoped is None:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return ScopedQueryResponse.of([])
        flt, prefetch_scoped = scoped
        native: dict[str, Any] = {
            "collection_name": collection_name,
            "query": request.query,
            "using": using,
            "search_params": search_params or self._search_params,
            "with_payload": view.fetch,
            "with_vectors": with_vectors,
            "score_threshold": score_threshold,
            "lookup_from": lookup_from,
            "consistency": consistency,
            "shard_key_selector": shard_key_selector,
            "timeout": timeout,
        }
        post = None
        if prefetch is None and offset is None:
            post = plan_read(
                self._policy,
                access,
                request.caller.neutral,
                strategy=self._strategy,
                max_ids_per_query=DEFAULT_MAX_IDS_PER_QUERY,
                k=limit,
                postfilter_min_ids=self._postfilter_min_ids,
                overfetch=self._overfetch,
            )
        if post is not None and post.postfilter:
            found = await self._postfilter(post, native, request.caller, access, view, limit)
            if found is not None:
                return found
        raw: QueryResponse = await self._call(
            "query_points",
            **native,
            prefetch=prefetch_scoped,
            query_filter=flt,
            limit=limit,
            offset=offset,
        )
        kept = self._accept(raw.points, access, view)
        self._audit("prefilter", len(raw.points), len(kept))
        return ScopedQueryResponse.of(kept)

    async def _postfilter(
        self,
        plan: ReadPlan,
        native: dict[str, Any],
        caller: _Caller,
        access: Access,
        view: PayloadView,
        limit: int,
    ) -> ScopedQueryResponse | None:
        """Run a post-filter plan; ``None`` when it fell short and ``auto`` falls back."""
        flt = _nest(_to_filter(self._compiler, plan.filters[0]), caller.native)
        admitted: dict[str, models.ScoredPoint] = {}
        # Qdrant ranks best first; whether best means the highest score (cosine, dot,
        # fusion) or the lowest (euclid, manhattan) is read off the candidates.
        order = {"sign": 1.0}

        async def search(fetch: int, which: list[int]) -> list[list[models.ScoredPoint]]:
            raw: QueryResponse = await self._call(
                "query_points", **native, query_filter=flt, limit=fetch
            )
            points = raw.points
            if len(points) >= 2 and points[0].score != points[-1].score:
                order["sign"] = -1.0 if points[0].score > points[-1].score else 1.0
            return [points]

        def admit(point: models.ScoredPoint) -> bool:
            (kept,) = self._accept_pairs([point], access, view, postfiltered=True)
            if kept is not None:
                admitted[str(point.id)] = kept
            return kept is not None

        (got,) = await postfilter_top_k(
            plan,
            limit,
            1,
            search,
            admit=admit,
            key=lambda point: str(point.id),
            distance=lambda point: order["sign"] * point.score,
        )
        if not got.complete and plan.fallback is not None:
            return None
        points = [admitted[str(point.id)] for point in got.hits]
        self._policy.audit(
            strategy="postfilter",
            examined=got.examined,
            returned=len(points),
            dropped=got.examined - len(points),
            complete=got.complete,
        )
        return ScopedQueryResponse.of(points, complete=got.complete)

    async def query_batch_points(
        self,
        collection_name: str,
        requests: Sequence[models.QueryRequest],
        consistency: Any = None,
        timeout: int | None = None,
    ) -> list[QueryResponse]:
        """Several ``QueryRequest`` in one call, each scoped like :meth:`query_points`.

        Always pre-filtered: each response is a :class:`ScopedQueryResponse` with
        ``complete=True``.
        """
        if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
            raise InvalidInputError("requests must be a list of models.QueryRequest")
        space = await self._space(collection_name)
        prepared: list[tuple[models.QueryRequest, _Query, PayloadView]] = []
        for i, req in enumerate(requests):
            if not isinstance(req, models.QueryRequest):
                raise InvalidInputError(
                    f"requests[{i}] must be a models.QueryRequest, got {type(req).__name__}"
                )
            if req.limit is not None:
                check_positive_int(req.limit, what=f"requests[{i}].limit")
            self._check_lookup(collection_name, req.lookup_from)
            query = self._prepare_query(
                space, req.query, req.using, req.prefetch, req.filter, collection_name
            )
            prepared.append((req, query, PayloadView.of(req.with_payload, self.scope.resource_key)))
        access = await self.scope.access("view")
        scoped_requests: list[models.QueryRequest] = []
        for req, query, view in prepared:
            scoped = await self._scoped_query(collection_name, query, access)
            if scoped is None:
                self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
                return [ScopedQueryResponse.of([]) for _ in prepared]
            flt, prefetch_scoped = scoped
            scoped_requests.append(
                req.model_copy(
                    update={
                        "query": query.query,
                        "prefetch": prefetch_scoped,
                        "filter": flt,
                        "with_payload": view.fetch,
                        "params": req.params or self._search_params,
                    }
                )
            )
        if not scoped_requests:
            self._audit("prefilter", 0, 0)
            return []
        raw: list[QueryResponse] = await self._call(
            "query_batch_points",
            collection_name=collection_name,
            requests=scoped_requests,
            consistency=consistency,
            timeout=timeout,
        )
        out: list[QueryResponse] = []
        examined = returned = 0
        for response, (_, _, view) in zip(raw, prepared, strict=True):
            kept = self._accept(response.points, access, view)
            examined += len(response.points)
            returned += len(kept)
            out.append(ScopedQueryResponse.of(kept))
        self._audit("prefilter", examined, returned)
        return out

    async def query_points_groups(
        self,
        collection_name: str,
        group_by: str,
        query: Any = None,
        using: str | None = None,
        prefetch: models.Prefetch | list[models.Prefetch] | None = None,
        query_filter: models.Filter | Filter | None = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        group_size: int = 3,
        with_payload: Any = True,
        with_vectors: bool | Sequence[str] = False,
        score_threshold: float | None = None,
        with_lookup: Any = None,
        lookup_from: models.LookupLocation | None = None,
        consistency: Any = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.GroupsResult:
        """Grouped query among the points the caller may view (groups with no hit are dropped).

        ``with_lookup`` reads points of another collection by group id, outside the scope:
        it is refused.
        """
        check_positive_int(limit, what="limit")
        check_positive_int(group_size, what="group_size")
        root_key(group_by)
        if with_lookup is not None:
            raise AccessDeniedError(
                "with_lookup reads points of another collection by group id, which the scope "
                "cannot constrain; look them up through a scoped client of that collection"
            )
        space = await self._space(collection_name)
        self._check_lookup(collection_name, lookup_from)
        request = self._prepare_query(space, query, using, prefetch, query_filter, collection_name)
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = await self.scope.access("view")
        scoped = await self._scoped_query(collection_name, request, access)
        if scoped is None:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return models.GroupsResult(groups=[])
        flt, prefetch_scoped = scoped
        raw: models.GroupsResult = await self._call(
            "query_points_groups",
            collection_name=collection_name,
            group_by=group_by,
            query=request.query,
            using=using,
            prefetch=prefetch_scoped,
            query_filter=flt,
            search_params=search_params or self._search_params,
            limit=limit,
            group_size=group_size,
            with_payload=view.fetch,
            with_vectors=with_vectors,
            score_threshold=score_threshold,
            lookup_from=lookup_from,
            consistency=consistency,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        groups: list[models.PointGroup] = []
        examined = returned = 0
        for group in raw.groups:
            hits = self._accept(group.hits, access, view)
            examined += len(group.hits)
            returned += len(hits)
            if hits:
                groups.append(group.model_copy(update={"hits": hits, "lookup": None}))
        self._audit("prefilter", examined, returned)
        return models.GroupsResult(groups=groups)

    async def scroll(
        self,
        collection_name: str,
        scroll_filter: models.Filter | Filter | None = None,
        limit: int = 10,
        order_by: Any = None,
        offset: Any = None,
        with_payload: Any = True,
        with_vectors: bool | Sequence[str] = False,
        consistency: Any = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> tuple[list[models.Record], LogicalId | None]:
        """Page through the points the caller may view: ``(records, next_page_offset)``.

        ``next_page_offset`` is a point id as the caller wrote it; pass it back as
        ``offset``. Pages follow the stored ids' order (as natively), not the caller ids'.
        """
        check_positive_int(limit, what="limit")
        caller = self._caller_filter(scroll_filter)
        start = None if offset is None else self._ids.physical(offset, what="offset")
        view = PayloadView.of(with_payload, self.scope.resource_key)
        self._policy.collection = collection_name
        access = await self.scope.access("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return [], None
        raw, _ = await self._call(
            "scroll",
            collection_name=collection_name,
            scroll_filter=flt,
            limit=limit + 1 if order_by is None else limit,
            order_by=order_by,
            offset=start,
            with_payload=view.fetch,
            with_vectors=with_vectors,
            consistency=consistency,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        page, extra = raw[:limit], raw[limit:]
        kept = self._accept(page, access, view)
        next_offset: LogicalId | None = None
        if extra:
            boundary = self._accept(extra[:1], access, view)
            next_offset = boundary[0].id if boundary else None
        self._audit("prefilter", len(page), len(kept))
        return kept, next_offset

    async def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: bool | Sequence[str] = False,
        consistency: Any = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> list[models.Record]:
        """The named points the caller may view, in the order asked; others are absent."""
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
            raise InvalidInputError("ids must be a list of point ids")
        wanted = list(dict.fromkeys(self._ids.physical(i, what="ids[]") for i in ids))
        view = PayloadView.of(with_payload, self.scope.resource_key)
        self._policy.collection = collection_name
        access = await self.scope.access("view")
        flt = self._scoped_filter(access, _Caller())
        if flt is None or not wanted:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return []
        found: dict[str, models.Record] = {}
        examined = 0
        for start in range(0, len(wanted), _ID_BATCH):
            chunk = wanted[start : start + _ID_BATCH]
            raw, _ = await self._call(
                "scroll",
                collection_name=collection_name,
                scroll_filter=_with_ids(flt, chunk),
                limit=len(chunk),
                with_payload=view.fetch,
                with_vectors=with_vectors,
                consistency=consistency,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
            examined += len(raw)
            pids = [str(r.id) for r in raw]
            for pid, record in zip(pids, self._accept_pairs(raw, access, view), strict=True):
                if record is not None:
                    found[pid] = record
        kept = [found[p] for p in wanted if p in found]
        self._audit("prefilter", examined, len(kept))
        return kept

    async def count(
        self,
        collection_name: str,
        count_filter: models.Filter | Filter | None = None,
        exact: bool = True,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> models.CountResult:
        """How many points the caller may view (matching ``count_filter``), not the total.

        Always exact: Qdrant's estimate (``exact=False``) comes from payload-index statistics
        of the whole collection, which would reflect other workspaces. ``exact`` is accepted
        for compatibility and ignored.
        """
        caller = self._caller_filter(count_filter)
        self._policy.collection = collection_name
        access = await self.scope.access("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return models.CountResult(count=0)
        result: models.CountResult = await self._call(
            "count",
            collection_name=collection_name,
            count_filter=flt,
            exact=True,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        self._audit("prefilter", result.count, result.count)
        return result

    async def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: models.Filter | Filter | None = None,
        limit: int = 10,
        exact: bool = False,
        consistency: Any = None,
        timeout: int | None = None,
        shard_key_selector: Any = None,
    ) -> models.FacetResponse:
        """Counts of the values of payload ``key`` among the points the caller may view.

        Always exact, like :meth:`count` (``exact`` is accepted and ignored): approximate
        counts come from statistics of the whole collection.
        """
        root_key(key)
        check_positive_int(limit, what="limit")
        caller = self._caller_filter(facet_filter)
        self._policy.collection = collection_name
        access = await self.scope.access("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._policy.audit(strategy="empty", examined=0, returned=0, dropped=0)
            return models.FacetResponse(hits=[])
        result: models.FacetResponse = await self._call(
            "facet",
            collection_name=collection_name,
            key=key,
            facet_filter=flt,
            limit=limit,
            exact=True,
            consistency=consistency,
            timeout=timeout,
            shard_key_selector=shard_key_selector,
        )
        total = sum(hit.count for hit in result.hits)
        self._audit("prefilter", total, total)
        return result

    # -- internals: filters ------------------------------------------------------------

    def _caller_filter(self, flt: object) -> _Caller:
        """Validate a caller filter (before any network call); reserved keys are refused."""
        if flt is None:
            return _Caller()
        if isinstance(flt, _NEUTRAL):
            self._policy.check_caller_filter(flt)
            self._check_id_key(filter_keys(flt))
            return _Caller(neutral=flt)
        if isinstance(flt, Mapping):
            try:
                flt = models.Filter.model_validate(flt)
            except Exception as exc:
                raise FilterError(f"not a Qdrant filter: {exc}") from exc
        if not isinstance(flt, models.Filter):
            raise FilterError(
                "a filter must be a qdrant_client.models.Filter or a sentinel_vectors.filters "
                f"node, got {type(flt).__name__}"
            )
        native, keys = inspect_filter(flt, lambda i: self._ids.physical(i, what="has_id"))
        self._policy.check_filter_keys(keys)
        self._check_id_key(keys)
        return _Caller(native=native)

    def _check_id_key(self, keys: Iterable[str]) -> None:
        if ID_KEY in set(keys):
            raise FilterError(
                f"filters may not name {ID_KEY!r}; select points by id with "
                f"models.HasIdCondition(has_id=[...]) instead"
            )

    def _check_keys(self, keys: Iterable[str]) -> None:
        roots = {root_key(k) for k in keys}
        self._policy.check_removable_keys(roots)
        if ID_KEY in roots:
            raise InvalidInputError(f"{ID_KEY!r} holds the point's id and cannot be changed")

    def _scoped_filter(self, access: Access, caller: _Caller) -> models.Filter | None:
        """Tenancy filter (with the caller's neutral filter) with the native one nested under it."""
        plan = plan_read(self._policy, access, caller.neutral, strategy="prefilter")
        if plan is None:
            return None
        (neutral,) = plan.filters
        return _nest(_to_filter(self._compiler, neutral), caller.native)

    # -- internals: queries ------------------------------------------------------------

    def _check_lookup(self, collection_name: str, lookup: object) -> None:
        if lookup is None:
            return
        if not isinstance(lookup, models.LookupLocation):
            raise InvalidInputError("lookup_from must be a models.LookupLocation")
        if lookup.collection != collection_name:
            raise AccessDeniedError(
                "lookup_from reads vectors of another collection, which the scope cannot "
                "constrain; only the queried collection may be named"
            )

    def _prepare_query(
        self,
        space: VectorSpace,
        query: Any,
        using: str | None,
        prefetch: Any,
        query_filter: object,
        collection_name: str,
    ) -> _Query:
        refs: dict[str, LogicalId] = {}
        rewritten = self._rewrite_query(space, query, using, refs)
        stages = self._prepare_prefetch(space, prefetch, refs, collection_name)
        return _Query(rewritten, stages, self._caller_filter(query_filter), refs)

    def _prepare_prefetch(
        self, space: VectorSpace, prefetch: Any, refs: dict[str, LogicalId], collection: str
    ) -> list[models.Prefetch] | models.Prefetch | None:
        if prefetch is None:
            return None
        if isinstance(prefetch, list):
            return [self._prepare_stage(space, p, refs, collection) for p in prefetch]
        return self._prepare_stage(space, prefetch, refs, collection)

    def _prepare_stage(
        self, space: VectorSpace, stage: Any, refs: dict[str, LogicalId], collection: str
    ) -> models.Prefetch:
        if not isinstance(stage, models.Prefetch):
            raise InvalidInputError(f"prefetch must be models.Prefetch, got {type(stage).__name__}")
        self._check_lookup(collection, stage.lookup_from)
        caller = self._caller_filter(stage.filter)
        return stage.model_copy(
            update={
                "query": self._rewrite_query(space, stage.query, stage.using, refs),
                "prefetch": self._prepare_prefetch(space, stage.prefetch, refs, collection),
                "filter": caller.native,
            }
        )

    def _rewrite_query(
        self, space: VectorSpace, query: Any, using: str | None, refs: dict[str, LogicalId]
    ) -> Any:
        """Translate point ids in a query and validate its vectors against the collection."""
        if query is None:
            return None
        if isinstance(query, models.NearestQuery):
            return query.model_copy(
                update={"nearest": self._vector_input(space, query.nearest, using, refs)}
            )
        if isinstance(query, models.RecommendQuery):
            rec = query.recommend
            return query.model_copy(
                update={
                    "recommend": rec.model_copy(
                        update={
                            "positive": self._inputs(space, rec.positive, using, refs),
                            "negative": self._inputs(space, rec.negative, using, refs),
                        }
                    )
                }
            )
        if isinstance(query, models.DiscoverQuery):
            disc = query.discover
            return query.model_copy(
                update={
                    "discover": disc.model_copy(
                        update={
                            "target": self._vector_input(space, disc.target, using, refs),
                            "context": self._pairs(space, disc.context, using, refs),
                        }
                    )
                }
            )
        if isinstance(query, models.ContextQuery):
            return query.model_copy(
                update={"context": self._pairs(space, query.context, using, refs)}
            )
        if type(query).__name__ in _PLAIN_QUERIES:
            return query
        if isinstance(query, BaseModel) and not isinstance(query, models.SparseVector):
            raise InvalidInputError(
                f"{type(query).__name__} queries are not supported through the scoped client "
                f"(inference inputs, formulas and text queries are refused: embed first)"
            )
        return self._vector_input(space, query, using, refs)

    def _inputs(
        self, space: VectorSpace, items: Any, using: str | None, refs: dict[str, LogicalId]
    ) -> Any:
        if items is None:
            return None
        return [self._vector_input(space, item, using, refs) for item in items]

    def _pairs(
        self, space: VectorSpace, pairs: Any, using: str | None, refs: dict[str, LogicalId]
    ) -> Any:
        if pairs is None:
            return None
        if isinstance(pairs, models.ContextPair):
            return self._pair(space, pairs, using, refs)
        return [self._pair(space, p, using, refs) for p in pairs]

    def _pair(
        self,
        space: VectorSpace,
        pair: models.ContextPair,
        using: str | None,
        refs: dict[str, LogicalId],
    ) -> models.ContextPair:
        return models.ContextPair(
            positive=self._vector_input(space, pair.positive, using, refs),
            negative=self._vector_input(space, pair.negative, using, refs),
        )

    def _vector_input(
        self, space: VectorSpace, value: Any, using: str | None, refs: dict[str, LogicalId]
    ) -> Any:
        """A vector (validated) or a point id (translated, remembered for the visibility check)."""
        if isinstance(value, bool):
            raise InvalidInputError(f"a query must be a vector or a point id, got {value!r}")
        if isinstance(value, int | str | uuid.UUID):
            lid, _ = PointIds.logical(value, what="query point id")
            pid = self._ids.physical(value, what="query point id")
            refs[pid] = lid
            return pid
        name = space.check_name(using, what="using")
        if isinstance(value, models.SparseVector | Mapping):
            if name not in space.sparse:
                raise InvalidInputError(f"vector {name!r} is dense; a sparse query was given")
            return space.vector(name, value, what="query")
        if name in space.sparse:
            raise InvalidInputError(f"vector {name!r} is sparse; pass a models.SparseVector")
        if hasattr(value, "tolist") or isinstance(value, list | tuple):
            return space.vector(name, value, what="query")
        raise InvalidInputError(
            f"a query must be a vector, a sparse vector or a point id, got {type(value).__name__}"
            " (inference inputs are not supported: embed first)"
        )

    async def _scoped_query(
        self, collection_name: str, query: _Query, access: Access
    ) -> tuple[models.Filter, Any] | None:
        """The scoped top-level filter and prefetch tree; ``None`` if nothing is visible.

        Point ids the query refers to must be visible to the caller, else it is an error
        (as natively for a missing point) that does not tell "hidden" from "absent".
        """
        self._policy.collection = collection_name
        tenancy = self._scoped_filter(access, _Caller())
        flt = self._scoped_filter(access, query.caller)
        if tenancy is None or flt is None:
            return None
        if query.refs:
            visible = await self._visible(collection_name, list(query.refs), tenancy, access)
            for pid, lid in query.refs.items():
                if pid not in visible:
                    raise InvalidInputError(
                        f"no point {lid!r} visible to the caller; a query may only refer to "
                        f"points the caller can view"
                    )
        return flt, _scope_prefetch(query.prefetch, tenancy)

    async def _visible(
        self, collection_name: str, pids: list[str], tenancy: models.Filter, access: Access
    ) -> set[str]:
        out: set[str] = set()
        view = PayloadView.of(False, self.scope.resource_key)
        for start in range(0, len(pids), _ID_BATCH):
            chunk = pids[start : start + _ID_BATCH]
            raw, _ = await self._call(
                "scroll",
                collection_name=collection_name,
                scroll_filter=_with_ids(tenancy, chunk),
                limit=len(chunk),
                with_payload=view.fetch,
                with_vectors=False,
            )
            for record, kept in zip(raw, self._accept_pairs(raw, access, view), strict=True):
                if kept is not None:
                    out.add(str(record.id))
        return out

    # -- internals: hits ---------------------------------------------------------------

    def _accept[P: (models.ScoredPoint, models.Record)](
        self, points: Sequence[P], access: Access, view: PayloadView
    ) -> list[P]:
        return [p for p in self._accept_pairs(points, access, view) if p is not None]

    def _accept_pairs[P: (models.ScoredPoint, models.Record)](
        self, points: Sequence[P], access: Access, view: PayloadView, *, postfiltered: bool = False
    ) -> list[P | None]:
        """Re-check every hit (invariant 7); the kept ones get the caller's id and payload."""
        out: list[P | None] = []
        for point in points:
            payload = point.payload or {}
            pid = str(point.id)
            ok = self._policy.recheck(payload, access, pid, postfiltered=postfiltered)
            if ok and not self._ids.matches(payload.get(ID_KEY), pid):
                ok = False
                self._policy.violations += 1
                _audit.error(
                    "sentinel-vectors dropped a point whose stored id does not match its "
                    "payload id",
                    extra={
                        "event": "sentinel_vectors.violation",
                        "workspace_id": self.scope.workspace_id,
                        "collection": self._policy.collection,
                        "record_id": pid,
                    },
                )
            out.append(
                point.model_copy(update={"id": payload[ID_KEY], "payload": view.present(payload)})
                if ok
                else None
            )
        return out

    def _audit(self, strategy: str, examined: int, returned: int) -> None:
        self._policy.audit(
            strategy=strategy, examined=examined, returned=returned, dropped=examined - returned
        )

    # -- internals: writes -------------------------------------------------------------

    async def _prepare_points(self, collection_name: str, points: object) -> list[_Point]:
        """Validate ids, vectors and payloads of an upsert (no permission call yet)."""
        structs = _as_structs(points)
        if not structs:
            raise InvalidInputError("points may not be empty")
        space = await self._space(collection_name)
        out: list[_Point] = []
        seen: set[str] = set()
        for i, point in enumerate(structs):
            lid, _ = PointIds.logical(point.id, what=f"points[{i}].id")
            pid = self._ids.physical(point.id)
            if pid in seen:
                raise InvalidInputError(f"points repeat id {point.id!r}; pass each point once")
            seen.add(pid)
            vector = space.point_vector(point.vector, what=f"points[{i}].vector")
            payload = check_payload(point.payload, what=f"points[{i}].payload")
            out.append(_Point(lid, pid, vector, payload))
        return out

    async def _authorize_points(
        self, collection_name: str, prepared: list[_Point]
    ) -> tuple[list[models.PointStruct], dict[str, models.Record], models.Filter | None]:
        """Stamp and authorize; return the points to write, snapshots of replaced ones, and
        the filter a stored point must still match to be replaced (invariant 10)."""
        self._policy.collection = collection_name
        edit = await self.scope.access("edit")
        snapshots = await self._records(
            collection_name, [p.pid for p in prepared], with_vectors=True
        )
        existing = {
            i: self._existing(snapshots[p.pid])
            for i, p in enumerate(prepared)
            if p.pid in snapshots
        }
        stamped = self._policy.stamp([p.payload for p in prepared], edit, existing)
        self._policy.check_ids([PointIds.logical(p.logical)[1] for p in prepared], stamped)
        await self._policy.authorize_resources(
            edit, {str(m[self.scope.resource_key]) for m in stamped}
        )
        self._policy.authorize_write(edit, existing=existing.values())
        structs = [
            models.PointStruct(id=p.pid, vector=p.vector, payload={**meta, ID_KEY: p.logical})
            for p, meta in zip(prepared, stamped, strict=True)
        ]
        allowed = self._policy.overwritable(edit)
        return structs, snapshots, None if allowed is None else _to_filter(self._compiler, allowed)

    async def _write_points(
        self,
        collection_name: str,
        batches: list[list[models.PointStruct]],
        snapshots: dict[str, models.Record],
        overwritable: models.Filter | None,
        *,
        wait: bool,
        ordering: models.WriteOrdering | None,
        shard_key_selector: Any,
        timeout: int | None,
        max_retries: int,
    ) -> models.UpdateResult:
        """Send conditional upsert requests in order; roll back what was sent on a failure.

        Invariant 10: points the check found absent go in an ``insert_only`` request,
        points it found (``snapshots``) in an ``update_only`` request whose
        ``update_filter`` is what a stored point must still match to be replaced. Qdrant
        skips a point another writer created or changed in between without saying so: each
        batch is read back, and a point not holding this write raises
        :class:`WriteConflictError` after the points this call wrote are rolled back.
        Requests always wait (``wait`` is ignored): a write is verified once applied.
        """
        del wait
        result = _completed()
        sent: list[models.PointStruct] = []
        for batch in batches:
            sent.extend(batch)
            fresh = [p for p in batch if str(p.id) not in snapshots]
            known = [p for p in batch if str(p.id) in snapshots]
            requests: list[tuple[list[models.PointStruct], dict[str, Any]]] = []
            if fresh:
                requests.append((fresh, {"update_mode": models.UpdateMode.INSERT_ONLY}))
            if known and overwritable is not None:
                mode = models.UpdateMode.UPDATE_ONLY
                requests.append((known, {"update_mode": mode, "update_filter": overwritable}))
            for points, condition in requests:
                attempt = 0
                while True:
                    try:
                        result = await self._call(
                            "upsert",
                            collection_name=collection_name,
                            points=points,
                            wait=True,
                            ordering=ordering,
                            shard_key_selector=shard_key_selector,
                            timeout=timeout,
                            **condition,
                        )
                        break
                    except Exception as exc:
                        if attempt < max_retries:
                            attempt += 1
                            continue
                        await self._rollback(collection_name, sent, snapshots, exc)
                        raise
            holding = await self._holding(collection_name, batch)
            if len(holding) != len(batch):
                conflict = WriteConflictError(
                    "another writer created or changed a point with one of these ids after the "
                    "write was checked; it was left as it is and nothing of this call was "
                    "written. Read the points again and retry."
                )
                await self._rollback(collection_name, sent, snapshots, conflict)
                raise conflict
        return result

    async def _holding(self, collection_name: str, points: list[models.PointStruct]) -> set[str]:
        """The ids among ``points`` whose stored payload is the one this call sent."""
        sent = {str(p.id): to_jsonable_python(p.payload) for p in points}
        stored = await self._records(collection_name, list(sent), with_vectors=False)
        return {
            pid
            for pid, payload in sent.items()
            if pid in stored and to_jsonable_python(stored[pid].payload) == payload
        }

    async def _rollback(
        self,
        collection_name: str,
        sent: list[models.PointStruct],
        snapshots: dict[str, models.Record],
        error: Exception,
    ) -> None:
        """Undo upsert requests that failed or preceded a failure: restore, or delete new ids.

        Only points that hold this call's write are touched: a point another writer put
        under one of the ids (which a conditional request skipped) is left as it is.
        """
        restore: list[models.PointStruct] = []
        fresh: list[models.ExtendedPointId] = []
        try:
            ours = await self._holding(collection_name, sent)
            for p in sent:
                pid = str(p.id)
                if pid not in ours:
                    continue
                if pid in snapshots:
                    restore.append(
                        models.PointStruct(
                            id=pid,
                            vector=cast(Any, snapshots[pid].vector or {}),
                            payload=snapshots[pid].payload,
                        )
                    )
                else:
                    fresh.append(pid)
            for start in range(0, len(restore), _ID_BATCH):
                await self._call(
                    "upsert",
                    collection_name=collection_name,
                    points=restore[start : start + _ID_BATCH],
                    wait=True,
                )
            for start in range(0, len(fresh), _ID_BATCH):
                await self._call(
                    "delete",
                    collection_name=collection_name,
                    points_selector=models.PointIdsList(points=fresh[start : start + _ID_BATCH]),
                    wait=True,
                )
        except Exception as undo:
            _audit.error(
                "sentinel-vectors could not roll back a failed upsert; points may be partly "
                "written",
                extra={
                    "event": "sentinel_vectors.rollback_failed",
                    "workspace_id": self.scope.workspace_id,
                    "collection": collection_name,
                    "points": len(sent),
                },
            )
            error.add_note(f"sentinel-vectors: rolling back the partial write failed too: {undo!r}")
        else:
            error.add_note(
                f"sentinel-vectors: the write failed; {len(restore)} replaced point(s) were "
                f"restored and {len(fresh)} new point(s) removed"
            )

    def _selection(self, selector: object) -> _Selection:
        """Parse a points selector (before any network call)."""
        if isinstance(selector, models.PointIdsList):
            selector = selector.points
        elif isinstance(selector, models.FilterSelector):
            selector = selector.filter
        if isinstance(selector, (models.Filter, Mapping, *_NEUTRAL)):
            return _Selection(ids=None, caller=self._caller_filter(selector))
        if isinstance(selector, str | bytes) or not isinstance(selector, Sequence):
            raise InvalidInputError(
                "points must be a list of point ids, models.PointIdsList, models.FilterSelector "
                f"or a filter; got {type(selector).__name__}"
            )
        ids: dict[str, LogicalId] = {}
        for i, value in enumerate(selector):
            lid, _ = PointIds.logical(value, what=f"points[{i}]")
            ids[self._ids.physical(value)] = lid
        return _Selection(ids=ids, caller=_Caller())

    async def _targets(
        self, collection_name: str, selection: _Selection, edit: Access
    ) -> list[models.Record]:
        """The stored points a write reaches; named but uneditable points raise."""
        if selection.ids is not None:
            stored = await self._records(collection_name, list(selection.ids), with_vectors=False)
            # Hidden points are absent ids (invariant 9); visible, uneditable ones raise.
            reached = await self._reachable(stored, edit, selection.ids)
            return [stored[pid] for pid in stored if pid in reached]
        flt = self._scoped_filter(edit, selection.caller)
        if flt is None:
            return []
        view = PayloadView.of([OWNER_KEY], self.scope.resource_key)
        out: list[models.Record] = []
        offset: Any = None
        while True:
            raw, offset = await self._call(
                "scroll",
                collection_name=collection_name,
                scroll_filter=flt,
                limit=_ID_BATCH,
                offset=offset,
                with_payload=view.fetch,
                with_vectors=False,
            )
            for record in raw:
                payload = record.payload or {}
                if self._policy.recheck(payload, edit, str(record.id)):
                    out.append(record)
            if offset is None:
                return out

    async def _update_selected(
        self,
        method: str,
        collection_name: str,
        points: object,
        arguments: Callable[[models.FilterSelector], dict[str, Any]],
        **options: Any,
    ) -> models.UpdateResult:
        selection = self._selection(points)
        self._policy.collection = collection_name
        edit = await self.scope.access("edit")
        targets = await self._targets(collection_name, selection, edit)
        return await self._apply_to(method, collection_name, targets, edit, arguments, **options)

    async def _apply_to(
        self,
        method: str,
        collection_name: str,
        targets: list[models.Record],
        edit: Access,
        arguments: Callable[[models.FilterSelector], dict[str, Any]],
        **options: Any,
    ) -> models.UpdateResult:
        """Run a native write on ``targets``: by id, and under the edit filter once more."""
        tenancy = self._scoped_filter(edit, _Caller())
        if tenancy is None or not targets:
            return _completed()
        pids = [str(r.id) for r in targets]
        result = _completed()
        for start in range(0, len(pids), _ID_BATCH):
            selector = models.FilterSelector(
                filter=_with_ids(tenancy, pids[start : start + _ID_BATCH])
            )
            result = await self._call(
                method, collection_name=collection_name, **arguments(selector), **options
            )
        return result

    async def _overwrite(
        self,
        collection_name: str,
        values: dict[str, Any],
        points: object,
        **options: Any,
    ) -> models.UpdateResult:
        selection = self._selection(points)
        self._policy.collection = collection_name
        edit = await self.scope.access("edit")
        targets = await self._targets(collection_name, selection, edit)
        existing = {i: self._existing(r) for i, r in enumerate(targets)}
        checked = self._policy.check_partial_update([values] * len(targets), existing)
        tenancy = self._scoped_filter(edit, _Caller())
        if tenancy is None or not targets:
            return _completed()
        ops: list[models.OverwritePayloadOperation] = []
        for record, row in zip(targets, checked, strict=True):
            stored = record.payload or {}
            payload = {
                **row,
                WORKSPACE_KEY: self.scope.workspace_id,
                self.scope.resource_key: stored.get(self.scope.resource_key),
                OWNER_KEY: stored.get(OWNER_KEY),
                ID_KEY: stored.get(ID_KEY),
            }
            ops.append(
                models.OverwritePayloadOperation(
                    overwrite_payload=models.SetPayload(
                        payload=payload, filter=_with_ids(tenancy, [str(record.id)])
                    )
                )
            )
        results: list[models.UpdateResult] = [_completed()]
        for start in range(0, len(ops), _OPS_BATCH):
            results = await self._call(
                "batch_update_points",
                collection_name=collection_name,
                update_operations=ops[start : start + _OPS_BATCH],
                wait=options.get("wait", True),
                ordering=options.get("ordering"),
            )
        return results[-1]

    async def _records(
        self, collection_name: str, pids: list[str], *, with_vectors: bool
    ) -> dict[str, models.Record]:
        """Stored points under these ids (any workspace: the ids are ours), with payload."""
        out: dict[str, models.Record] = {}
        for start in range(0, len(pids), _ID_BATCH):
            raw: list[models.Record] = await self._call(
                "retrieve",
                collection_name=collection_name,
                ids=pids[start : start + _ID_BATCH],
                with_payload=True,
                with_vectors=with_vectors,
            )
            for record in raw:
                out[str(record.id)] = record
        return out

    def _existing(self, record: models.Record) -> ExistingRecord:
        payload = record.payload or {}
        return ExistingRecord(
            workspace_id=payload.get(WORKSPACE_KEY),
            resource_id=payload.get(self.scope.resource_key),
            owner_id=payload.get(OWNER_KEY),
        )

    async def _reachable(
        self,
        stored: Mapping[str, models.Record],
        edit: Access,
        logical: Mapping[str, LogicalId],
    ) -> set[str]:
        """The stored points (by stored id) an update/delete by id acts on; the core decides."""
        found = {pid: self._existing(r) for pid, r in stored.items()}
        if not found:
            return set()
        view = edit
        if any(not edit.allows(r.resource_id) for r in found.values()):
            view = await self.scope.access("view")
        named = {str(logical.get(pid, pid)): pid for pid in found}
        keys = self._policy.reachable({n: found[p] for n, p in named.items()}, edit, view)
        return {named[n] for n in keys}

    # -- internals: whole resources (the lifecycle's chunk index) --------------------

    def _resource_scroll_filter(
        self, access: Access, resource_id: str, keep: Collection[str] = ()
    ) -> models.Filter | None:
        flt = self._policy.resource_filter(access, resource_id)
        if flt is None:
            return None
        native = _to_filter(self._compiler, flt)
        if keep:
            native = models.Filter(
                must=[native],
                must_not=[models.HasIdCondition(has_id=[self._ids.physical(i) for i in keep])],
            )
        return native

    async def _resource_points(
        self, collection_name: str, flt: models.Filter
    ) -> list[models.Record]:
        out: list[models.Record] = []
        offset: Any = None
        while True:
            raw, offset = await self._call(
                "scroll",
                collection_name=collection_name,
                scroll_filter=flt,
                limit=_ID_BATCH,
                offset=offset,
                with_payload=[WORKSPACE_KEY, OWNER_KEY, self.scope.resource_key],
                with_vectors=False,
            )
            out.extend(raw)
            if offset is None:
                return out

    async def _count_resource(self, collection_name: str, resource_id: str) -> int:
        """How many points of one resource the caller may view (0 if out of reach)."""
        access = await self.scope.access("view")
        flt = self._resource_scroll_filter(access, resource_id)
        if flt is None:
            return 0
        found = await self._call(
            "count", collection_name=collection_name, count_filter=flt, exact=True
        )
        return int(found.count)

    async def _remove_resource(
        self, collection_name: str, resource_id: str, keep: Collection[str] = ()
    ) -> int:
        """Delete every point of the resource in the workspace but ``keep``, if editable.

        Selected by the stamped resource key (not a caller-writable key), so payload
        changes (``clear_payload``, ``overwrite_payload``) cannot hide a point from it.
        """
        access = await self.scope.access("edit")
        flt = self._resource_scroll_filter(access, resource_id, keep)
        if flt is None:
            return 0
        found = await self._resource_points(collection_name, flt)
        if found:
            await self._call(
                "delete",
                collection_name=collection_name,
                points_selector=models.FilterSelector(filter=flt),
                wait=True,
            )
        return len(found)

    async def _resource_owners(self, collection_name: str, resource_id: str) -> set[object]:
        """Owners of the resource's points in the workspace, whatever the caller may see.

        For the lifecycle's claim check only; never returned to a caller.
        """
        full = Access(action="view", full=True, resource_ids=frozenset())
        flt = self._resource_scroll_filter(full, resource_id)
        assert flt is not None
        return {
            (r.payload or {}).get(OWNER_KEY)
            for r in await self._resource_points(collection_name, flt)
        }

    # -- internals: native calls -------------------------------------------------------

    async def _space(self, collection_name: str) -> VectorSpace:
        if not isinstance(collection_name, str) or not collection_name:
            raise InvalidInputError("collection_name must be a non-empty string")
        space = self._spaces.get(collection_name)
        if space is None:
            try:
                info = await self._call("get_collection", collection_name=collection_name)
            except UnexpectedResponse as exc:
                if exc.status_code == 404:
                    raise InvalidInputError(
                        f"collection {collection_name!r} does not exist"
                    ) from exc
                raise
            except ValueError as exc:
                raise InvalidInputError(f"collection {collection_name!r}: {exc}") from exc
            space = VectorSpace.of(info)
            self._spaces[collection_name] = space
        return space

    async def _call(self, method: str, **kwargs: Any) -> Any:
        fn: Callable[..., Any] = getattr(self._client, method)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            if self._is_async:
                return await fn(**kwargs)
            return await asyncio.to_thread(fn, **kwargs)
        except Exception as exc:
            if is_store_outage(exc):
                # A Qdrant outage, not the identity service's: its own error and status.
                raise StoreUnavailableError(
                    f"Qdrant could not be reached during {method}() ({type(exc).__name__}: {exc})",
                    store="qdrant",
                ) from exc
            raise


# -- module helpers ---------------------------------------------------------------------


def _completed() -> models.UpdateResult:
    return models.UpdateResult(operation_id=None, status=models.UpdateStatus.COMPLETED)


def _to_filter(compiler: FilterCompiler[QdrantCondition], node: Filter) -> models.Filter:
    compiled = compiler.compile(node)
    return compiled if isinstance(compiled, models.Filter) else models.Filter(must=[compiled])


def _nest(tenancy: models.Filter, caller: models.Filter | None) -> models.Filter:
    """The caller's filter under the tenancy filter's ``must``: it can only narrow."""
    if caller is None:
        return tenancy
    plain = tenancy.should is None and tenancy.must_not is None and tenancy.min_should is None
    if plain and isinstance(tenancy.must, list):
        return models.Filter(must=[*tenancy.must, caller])
    return models.Filter(must=[tenancy, caller])


def _with_ids(flt: models.Filter, pids: list[str]) -> models.Filter:
    ids: list[models.ExtendedPointId] = list(pids)
    return _nest(flt, models.Filter(must=[models.HasIdCondition(has_id=ids)]))


def _scope_prefetch(prefetch: Any, tenancy: models.Filter) -> Any:
    """Put the tenancy filter on every prefetch stage, with the stage's own filter under it."""
    if prefetch is None:
        return None
    if isinstance(prefetch, list):
        return [_scope_prefetch(p, tenancy) for p in prefetch]
    assert isinstance(prefetch, models.Prefetch)
    return prefetch.model_copy(
        update={
            "filter": _nest(tenancy, prefetch.filter),
            "prefetch": _scope_prefetch(prefetch.prefetch, tenancy),
        }
    )


def _as_structs(points: object) -> list[models.PointStruct]:
    """``list[PointStruct]`` from an upsert's ``points`` (a list or a ``models.Batch``)."""
    if isinstance(points, models.Batch):
        return _unbatch(points)
    if isinstance(points, str | bytes | Mapping) or not isinstance(points, Sequence):
        raise InvalidInputError(
            f"points must be a list of models.PointStruct or a models.Batch, got "
            f"{type(points).__name__}"
        )
    for i, point in enumerate(points):
        if not isinstance(point, models.PointStruct):
            raise InvalidInputError(
                f"points[{i}] must be a models.PointStruct, got {type(point).__name__}"
            )
    return list(points)


def _unbatch(batch: models.Batch) -> list[models.PointStruct]:
    n = len(batch.ids)
    vectors = batch.vectors
    if batch.payloads is not None and len(batch.payloads) != n:
        raise InvalidInputError(f"got {n} ids but {len(batch.payloads)} payloads; pass one per id")
    per_point: list[Any]
    if isinstance(vectors, Mapping):
        for name, column in vectors.items():
            if len(column) != n:
                raise InvalidInputError(
                    f"got {n} ids but {len(column)} vectors named {name!r}; pass one per id"
                )
        per_point = [{name: column[i] for name, column in vectors.items()} for i in range(n)]
    elif isinstance(vectors, list):
        if len(vectors) != n:
            raise InvalidInputError(f"got {n} ids but {len(vectors)} vectors; pass one per id")
        per_point = list(vectors)
    else:
        raise InvalidInputError("Batch.vectors must be a list of vectors or {name: [vectors]}")
    payloads: list[Any] = list(batch.payloads) if batch.payloads is not None else [None] * n
    return [
        models.PointStruct.model_construct(
            id=batch.ids[i], vector=per_point[i], payload=payloads[i]
        )
        for i in range(n)
    ]
