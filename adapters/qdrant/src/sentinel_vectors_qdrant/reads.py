"""The scoped reads: ``query_points``, ``query_batch_points``, ``query_points_groups``,
``scroll``, ``retrieve``, ``count`` and ``facet``.

Each read validates its arguments, asks the scope what the caller may view, runs the
native read under the tenancy filter (with the caller's filter nested under it), and
re-checks every hit before it is returned (invariant 7), with one audit event per read.
``query_points`` may post-filter (see :mod:`sentinel_vectors.strategy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import models
from qdrant_client.http.models import QueryResponse

from sentinel_vectors.engine import AskAccess, Step
from sentinel_vectors.errors import AccessDeniedError, InvalidInputError
from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import Access
from sentinel_vectors.strategy import (
    DEFAULT_MAX_IDS_PER_QUERY,
    OverFetchRun,
    ReadPlan,
    plan_read,
)
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_qdrant.base import ID_BATCH, ClientBase
from sentinel_vectors_qdrant.compiler import root_key
from sentinel_vectors_qdrant.filtering import (
    CallerFilter,
    nest,
    scope_prefetch,
    to_filter,
    with_ids,
)
from sentinel_vectors_qdrant.points import LogicalId, PayloadView
from sentinel_vectors_qdrant.queries import PreparedQuery, check_lookup
from sentinel_vectors_qdrant.results import ScopedQueryResponse

__all__ = ["Reads"]


class Reads(ClientBase):
    """The read methods of :class:`~sentinel_vectors_qdrant.ScopedQdrantClient`."""

    def query_points(
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
    ) -> Step[QueryResponse]:
        """Nearest neighbours (or any universal query) among the points the caller may view.

        A point id as ``query`` (or inside a recommend/discover/context query) must name a
        point the caller may view. ``prefetch`` stages are scoped like the main query.
        Returns a :class:`ScopedQueryResponse` (a ``QueryResponse`` with ``complete``).
        A query with ``prefetch`` or ``offset`` always pre-filters.
        """
        check_positive_int(limit, what="limit")
        space = yield from self._space(collection_name)
        check_lookup(collection_name, lookup_from)
        request = self._queries.prepare(
            space, query, using, prefetch, query_filter, collection_name
        )
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = yield AskAccess("view")
        scoped = yield from self._scoped_query(collection_name, request, access)
        if scoped is None:
            self._audit_empty(collection_name)
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
            found = yield from self._postfilter(post, native, request.caller, access, view, limit)
            if found is not None:
                return found
        raw: QueryResponse = yield self._native(
            "query_points",
            **native,
            prefetch=prefetch_scoped,
            query_filter=flt,
            limit=limit,
            offset=offset,
        )
        kept = self._accept(raw.points, access, view, collection_name)
        self._audit(collection_name, "prefilter", len(raw.points), len(kept))
        return ScopedQueryResponse.of(kept)

    def _postfilter(
        self,
        plan: ReadPlan,
        native: dict[str, Any],
        caller: CallerFilter,
        access: Access,
        view: PayloadView,
        limit: int,
    ) -> Step[ScopedQueryResponse | None]:
        """Run a post-filter plan; ``None`` when it fell short and ``auto`` falls back."""
        collection_name: str = native["collection_name"]
        flt = nest(to_filter(self._compiler, plan.filters[0]), caller.native)
        admitted: dict[str, models.ScoredPoint] = {}
        # Qdrant ranks best first; whether best means the highest score (cosine, dot,
        # fusion) or the lowest (euclid, manhattan) is read off the candidates.
        order = {"sign": 1.0}

        def search(fetch: int) -> Step[list[list[models.ScoredPoint]]]:
            raw: QueryResponse = yield self._native(
                "query_points", **native, query_filter=flt, limit=fetch
            )
            points = raw.points
            if len(points) >= 2 and points[0].score != points[-1].score:
                order["sign"] = -1.0 if points[0].score > points[-1].score else 1.0
            return [points]

        def admit(point: models.ScoredPoint) -> bool:
            (kept,) = self._accept_pairs([point], access, view, collection_name, postfiltered=True)
            if kept is not None:
                admitted[str(point.id)] = kept
            return kept is not None

        run = OverFetchRun[models.ScoredPoint](
            plan,
            limit,
            1,
            admit,
            lambda point: str(point.id),
            lambda point: order["sign"] * point.score,
        )
        for fetch, which in run.rounds():
            run.feed(which, fetch, (yield from search(fetch)))
        (got,) = run.results()
        if not got.complete and plan.fallback is not None:
            return None
        points = [admitted[str(point.id)] for point in got.hits]
        self._policy.audit(
            strategy="postfilter",
            examined=got.examined,
            returned=len(points),
            dropped=got.examined - len(points),
            complete=got.complete,
            collection=collection_name,
        )
        return ScopedQueryResponse.of(points, complete=got.complete)

    def query_batch_points(
        self,
        collection_name: str,
        requests: Sequence[models.QueryRequest],
        consistency: Any = None,
        timeout: int | None = None,
    ) -> Step[list[QueryResponse]]:
        """Several ``QueryRequest`` in one call, each scoped like :meth:`query_points`.

        Always pre-filtered: each response is a :class:`ScopedQueryResponse` with
        ``complete=True``.
        """
        if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
            raise InvalidInputError("requests must be a list of models.QueryRequest")
        space = yield from self._space(collection_name)
        prepared: list[tuple[models.QueryRequest, PreparedQuery, PayloadView]] = []
        for i, req in enumerate(requests):
            if not isinstance(req, models.QueryRequest):
                raise InvalidInputError(
                    f"requests[{i}] must be a models.QueryRequest, got {type(req).__name__}"
                )
            if req.limit is not None:
                check_positive_int(req.limit, what=f"requests[{i}].limit")
            check_lookup(collection_name, req.lookup_from)
            query = self._queries.prepare(
                space, req.query, req.using, req.prefetch, req.filter, collection_name
            )
            prepared.append((req, query, PayloadView.of(req.with_payload, self.scope.resource_key)))
        access = yield AskAccess("view")
        scoped_requests: list[models.QueryRequest] = []
        for req, query, view in prepared:
            scoped = yield from self._scoped_query(collection_name, query, access)
            if scoped is None:
                self._audit_empty(collection_name)
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
            self._audit(collection_name, "prefilter", 0, 0)
            return []
        raw: list[QueryResponse] = yield self._native(
            "query_batch_points",
            collection_name=collection_name,
            requests=scoped_requests,
            consistency=consistency,
            timeout=timeout,
        )
        out: list[QueryResponse] = []
        examined = returned = 0
        for response, (_, _, view) in zip(raw, prepared, strict=True):
            kept = self._accept(response.points, access, view, collection_name)
            examined += len(response.points)
            returned += len(kept)
            out.append(ScopedQueryResponse.of(kept))
        self._audit(collection_name, "prefilter", examined, returned)
        return out

    def query_points_groups(
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
    ) -> Step[models.GroupsResult]:
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
        space = yield from self._space(collection_name)
        check_lookup(collection_name, lookup_from)
        request = self._queries.prepare(
            space, query, using, prefetch, query_filter, collection_name
        )
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = yield AskAccess("view")
        scoped = yield from self._scoped_query(collection_name, request, access)
        if scoped is None:
            self._audit_empty(collection_name)
            return models.GroupsResult(groups=[])
        flt, prefetch_scoped = scoped
        raw: models.GroupsResult = yield self._native(
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
            hits = self._accept(group.hits, access, view, collection_name)
            examined += len(group.hits)
            returned += len(hits)
            if hits:
                groups.append(group.model_copy(update={"hits": hits, "lookup": None}))
        self._audit(collection_name, "prefilter", examined, returned)
        return models.GroupsResult(groups=groups)

    def scroll(
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
    ) -> Step[tuple[list[models.Record], LogicalId | None]]:
        """Page through the points the caller may view: ``(records, next_page_offset)``.

        ``next_page_offset`` is a point id as the caller wrote it; pass it back as
        ``offset``. Pages follow the stored ids' order (as natively), not the caller ids'.
        """
        check_positive_int(limit, what="limit")
        caller = self._caller_filter(scroll_filter)
        start = None if offset is None else self._ids.physical(offset, what="offset")
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = yield AskAccess("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._audit_empty(collection_name)
            return [], None
        raw, _ = yield self._native(
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
        kept = self._accept(page, access, view, collection_name)
        next_offset: LogicalId | None = None
        if extra:
            boundary = self._accept(extra[:1], access, view, collection_name)
            next_offset = boundary[0].id if boundary else None
        self._audit(collection_name, "prefilter", len(page), len(kept))
        return kept, next_offset

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: bool | Sequence[str] = False,
        consistency: Any = None,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[list[models.Record]]:
        """The named points the caller may view, in the order asked; others are absent."""
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
            raise InvalidInputError("ids must be a list of point ids")
        wanted = list(dict.fromkeys(self._ids.physical(i, what="ids[]") for i in ids))
        view = PayloadView.of(with_payload, self.scope.resource_key)
        access = yield AskAccess("view")
        flt = self._scoped_filter(access, CallerFilter())
        if flt is None or not wanted:
            self._audit_empty(collection_name)
            return []
        found: dict[str, models.Record] = {}
        examined = 0
        for start in range(0, len(wanted), ID_BATCH):
            chunk = wanted[start : start + ID_BATCH]
            raw, _ = yield self._native(
                "scroll",
                collection_name=collection_name,
                scroll_filter=with_ids(flt, chunk),
                limit=len(chunk),
                with_payload=view.fetch,
                with_vectors=with_vectors,
                consistency=consistency,
                shard_key_selector=shard_key_selector,
                timeout=timeout,
            )
            examined += len(raw)
            pids = [str(r.id) for r in raw]
            for pid, record in zip(
                pids, self._accept_pairs(raw, access, view, collection_name), strict=True
            ):
                if record is not None:
                    found[pid] = record
        kept = [found[p] for p in wanted if p in found]
        self._audit(collection_name, "prefilter", examined, len(kept))
        return kept

    def count(
        self,
        collection_name: str,
        count_filter: models.Filter | Filter | None = None,
        exact: bool = True,
        shard_key_selector: Any = None,
        timeout: int | None = None,
    ) -> Step[models.CountResult]:
        """How many points the caller may view (matching ``count_filter``), not the total.

        Always exact: Qdrant's estimate (``exact=False``) comes from payload-index statistics
        of the whole collection, which would reflect other workspaces. ``exact`` is accepted
        for compatibility and ignored.
        """
        caller = self._caller_filter(count_filter)
        access = yield AskAccess("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._audit_empty(collection_name)
            return models.CountResult(count=0)
        result: models.CountResult = yield self._native(
            "count",
            collection_name=collection_name,
            count_filter=flt,
            exact=True,
            shard_key_selector=shard_key_selector,
            timeout=timeout,
        )
        self._audit(collection_name, "prefilter", result.count, result.count)
        return result

    def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: models.Filter | Filter | None = None,
        limit: int = 10,
        exact: bool = False,
        consistency: Any = None,
        timeout: int | None = None,
        shard_key_selector: Any = None,
    ) -> Step[models.FacetResponse]:
        """Counts of the values of payload ``key`` among the points the caller may view.

        Always exact, like :meth:`count` (``exact`` is accepted and ignored): approximate
        counts come from statistics of the whole collection.
        """
        root_key(key)
        check_positive_int(limit, what="limit")
        caller = self._caller_filter(facet_filter)
        access = yield AskAccess("view")
        flt = self._scoped_filter(access, caller)
        if flt is None:
            self._audit_empty(collection_name)
            return models.FacetResponse(hits=[])
        result: models.FacetResponse = yield self._native(
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
        self._audit(collection_name, "prefilter", total, total)
        return result

    def _scoped_query(
        self, collection_name: str, query: PreparedQuery, access: Access
    ) -> Step[tuple[models.Filter, Any] | None]:
        """The scoped top-level filter and prefetch tree; ``None`` if nothing is visible.

        Point ids the query refers to must be visible to the caller, else it is an error
        (as natively for a missing point) that does not tell "hidden" from "absent".
        """
        tenancy = self._scoped_filter(access, CallerFilter())
        flt = self._scoped_filter(access, query.caller)
        if tenancy is None or flt is None:
            return None
        if query.refs:
            visible = yield from self._visible(collection_name, list(query.refs), tenancy, access)
            for pid, lid in query.refs.items():
                if pid not in visible:
                    raise InvalidInputError(
                        f"no point {lid!r} visible to the caller; a query may only refer to "
                        f"points the caller can view"
                    )
        return flt, scope_prefetch(query.prefetch, tenancy)

    def _visible(
        self, collection_name: str, pids: list[str], tenancy: models.Filter, access: Access
    ) -> Step[set[str]]:
        out: set[str] = set()
        view = PayloadView.of(False, self.scope.resource_key)
        for start in range(0, len(pids), ID_BATCH):
            chunk = pids[start : start + ID_BATCH]
            raw, _ = yield self._native(
                "scroll",
                collection_name=collection_name,
                scroll_filter=with_ids(tenancy, chunk),
                limit=len(chunk),
                with_payload=view.fetch,
                with_vectors=False,
            )
            for record, kept in zip(
                raw, self._accept_pairs(raw, access, view, collection_name), strict=True
            ):
                if kept is not None:
                    out.add(str(record.id))
        return out
