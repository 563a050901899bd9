"""The scoped reads: ``query_points``, ``query_batch_points``, ``query_points_groups``,
``scroll``, ``retrieve``, ``count`` and ``facet``.

Each read validates its arguments, asks the scope what the caller may view, runs the
native read under the tenancy filter (with the caller's filter nested under it), and
re-checks every hit before it is returned (invariant 7), with one audit event per read.

``query_points`` (without ``prefetch`` or ``offset``) runs the engine's top-k workflow
(:func:`sentinel_vectors.engine.top_k`, which may post-filter), ``scroll`` and
``retrieve`` its listing (:func:`sentinel_vectors.engine.listing`), over the sources of
:mod:`~sentinel_vectors_qdrant.sources`. The others are Qdrant's own shapes the engine
has no workflow for (a prefetch tree, several requests with their own filters, groups,
facet counts, a total count): one pre-filtered native call under the same effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import models
from qdrant_client.http.models import QueryResponse

from sentinel_vectors.access import Access
from sentinel_vectors.engine import AskAccess, Step, listing, top_k
from sentinel_vectors.errors import AccessDeniedError, InvalidInputError
from sentinel_vectors.filters import Filter
from sentinel_vectors.validation import check_positive_int
from sentinel_vectors_qdrant.base import ID_BATCH, ClientBase
from sentinel_vectors_qdrant.compiler import root_key
from sentinel_vectors_qdrant.filtering import (
    CallerFilter,
    scope_prefetch,
    with_ids,
)
from sentinel_vectors_qdrant.points import LogicalId, PayloadView
from sentinel_vectors_qdrant.queries import PreparedQuery, check_lookup
from sentinel_vectors_qdrant.results import ScopedQueryResponse
from sentinel_vectors_qdrant.sources import (
    PREFILTER,
    QuerySource,
    RetrieveSource,
    ScrollSource,
    settings_of,
)

__all__ = ["Reads"]


class Reads(ClientBase):
    """The reads of both scoped clients, as workflows (see ``client``)."""

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
        if prefetch is None and offset is None:
            if request.refs:
                # Points the query names must be visible first (asked again by the
                # engine below; RequestAuth answers a repeated question from its cache).
                access = yield AskAccess("view")
                tenancy = self._scoped_filter(access, CallerFilter())
                if tenancy is not None:
                    yield from self._check_refs(collection_name, request, tenancy, access)
            # The engine's top-k workflow: plan (pre- or post-filter), search, re-check, audit.
            source = QuerySource(self, collection_name, native, request.caller.native)
            found = yield from top_k(
                self._policy,
                source,
                k=limit,
                n_queries=1,
                caller=request.caller.neutral,
                settings=settings_of(self),
                collection=collection_name,
            )
            points = [self._present(row.native, view) for row in found.hits[0]]
            return ScopedQueryResponse.of(points, complete=found.complete)
        # Prefetch stages (each scoped by the tenancy filter) or an offset: one pre-filtered
        # query, outside the engine (its top-k has no prefetch tree and no offset).
        access = yield AskAccess("view")
        scoped = yield from self._scoped_query(collection_name, request, access)
        if scoped is None:
            self._audit_empty(collection_name)
            return ScopedQueryResponse.of([])
        flt, prefetch_scoped = scoped
        raw: QueryResponse = yield self._native(
            "query_points",
            **native,
            prefetch=prefetch_scoped,
            query_filter=flt,
            limit=limit,
            offset=offset,
        )
        kept = self._accept(raw.points, access, view, collection_name)
        self._audit(collection_name, "prefilter", len(raw.points), len(kept), kept)
        return ScopedQueryResponse.of(kept)

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
        shown: list[models.ScoredPoint] = []
        examined = 0
        for response, (_, _, view) in zip(raw, prepared, strict=True):
            kept = self._accept(response.points, access, view, collection_name)
            examined += len(response.points)
            shown.extend(kept)
            out.append(ScopedQueryResponse.of(kept))
        self._audit(collection_name, "prefilter", examined, len(shown), shown)
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
        shown: list[models.ScoredPoint] = []
        examined = 0
        for group in raw.groups:
            hits = self._accept(group.hits, access, view, collection_name)
            examined += len(group.hits)
            shown.extend(hits)
            if hits:
                groups.append(group.model_copy(update={"hits": hits, "lookup": None}))
        self._audit(collection_name, "prefilter", examined, len(shown), shown)
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
        source = ScrollSource(
            self,
            collection_name,
            caller.native,
            limit,
            {
                "order_by": order_by,
                "offset": start,
                "with_payload": view.fetch,
                "with_vectors": with_vectors,
                "consistency": consistency,
                "shard_key_selector": shard_key_selector,
                "timeout": timeout,
            },
        )
        listed = yield from listing(
            self._policy,
            source,
            caller=caller.neutral,
            settings=PREFILTER,
            collection=collection_name,
        )
        page, past = source.split(listed.rows)
        kept = [self._present(row.native, view) for row in page]
        return kept, None if past is None else self._present(past.native, view).id

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
        if not wanted:
            yield AskAccess("view")  # as any read: the permission service answers first
            self._audit_empty(collection_name)
            return []
        source = RetrieveSource(
            self,
            collection_name,
            wanted,
            {
                "with_payload": view.fetch,
                "with_vectors": with_vectors,
                "consistency": consistency,
                "shard_key_selector": shard_key_selector,
                "timeout": timeout,
            },
        )
        listed = yield from listing(
            self._policy, source, caller=None, settings=PREFILTER, collection=collection_name
        )
        found = {row.pid: row.native for row in listed.rows}
        return [self._present(found[p], view) for p in wanted if p in found]

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
        yield from self._check_refs(collection_name, query, tenancy, access)
        return flt, scope_prefetch(query.prefetch, tenancy)

    def _check_refs(
        self, collection_name: str, query: PreparedQuery, tenancy: models.Filter, access: Access
    ) -> Step[None]:
        """Every point the query names must be visible to the caller, else it is an error
        (as natively for a missing point) that does not tell "hidden" from "absent"."""
        if not query.refs:
            return
        visible = yield from self._visible(collection_name, list(query.refs), tenancy, access)
        for pid, lid in query.refs.items():
            if pid not in visible:
                raise InvalidInputError(
                    f"no point {lid!r} visible to the caller; a query may only refer to "
                    f"points the caller can view"
                )

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
