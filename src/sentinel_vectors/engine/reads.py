"""The read workflow, written once: top-k search, listing and counting.

Every scoped read of every adapter runs one of these generators:

1. ask the permission service (:class:`~sentinel_vectors.engine.effects.AskAccess`);
2. plan the read (:func:`~sentinel_vectors.strategy.plan_read`: pre-filter, chunked
   pre-filter or post-filter, from the accessible-list size and the adapter's settings);
3. run the plan's store queries through the adapter's *source* (one per filter, or the
   post-filter's adaptive over-fetch, with the ``auto`` fall back to the pre-filter);
4. merge per-chunk results, re-check every row against invariant 1
   (:meth:`~sentinel_vectors.policy.TenancyPolicy.recheck`) and audit the read.

A source is the adapter's side of one call: it knows the query vectors, the native
filter compiler and the fields to fetch, and turns a neutral filter into native calls
(yielded as :class:`~sentinel_vectors.engine.effects.Native` effects). It holds no
policy: whatever it returns is re-checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sentinel_vectors.access import Access, Action
from sentinel_vectors.engine.effects import AskAccess, Row, Step
from sentinel_vectors.filters import Filter
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.strategy import (
    DEFAULT_MAX_IDS_PER_QUERY,
    OverFetch,
    OverFetchRun,
    ReadPlan,
    StrategyName,
    merge_top_k,
    plan_read,
)

__all__ = [
    "CountSource",
    "Counted",
    "ListSource",
    "Listed",
    "ReadSettings",
    "SearchSource",
    "TopK",
    "counting",
    "listing",
    "top_k",
]


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """How an adapter wants its reads planned (see :mod:`sentinel_vectors.strategy`).

    ``native_ids``: a single pre-filter query hands the accessible ids to the source
    (``ids`` argument) instead of an ``in`` node in the filter, for stores that bind the
    id list natively (pgvector binds one ``uuid[]``).
    """

    strategy: StrategyName = "auto"
    max_ids_per_query: int = DEFAULT_MAX_IDS_PER_QUERY
    postfilter_min_ids: int | None = None
    overfetch: OverFetch | None = None
    native_ids: bool = False


class SearchSource(Protocol):
    """The adapter's side of one top-k search (the query vectors are its own)."""

    def search(
        self, flt: Filter, fetch: int, which: Sequence[int], ids: Access | None
    ) -> Step[list[list[Row]]]:
        """The ``fetch`` nearest rows under ``flt`` for each query index in ``which``.

        One list per index in ``which``, nearest first. ``ids``: when set, AND
        ``resource IN ids`` natively (see :attr:`ReadSettings.native_ids`).
        """
        ...


class ListSource(Protocol):
    """The adapter's side of one listing (``get``/``scroll``/``retrieve``)."""

    def fetch(
        self, flt: Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        """Rows under ``flt`` in the store's stable order, ``offset``/``limit`` applied."""
        ...


class CountSource(Protocol):
    """The adapter's side of one count."""

    def count(self, flt: Filter, ids: Access | None) -> Step[list[tuple[Row, int]]]:
        """Counts under ``flt``, grouped by (workspace, resource): each group's tenancy
        keys as a row's ``meta`` and how many records it holds. A store that can only
        count in total returns one row per record (``n = 1``)."""
        ...


@dataclass(slots=True)
class TopK:
    """A top-k read's outcome: per query, the admitted rows, nearest first.

    ``complete`` is ``False`` only when a forced post-filter could not fill ``k`` for
    some query within its over-fetch (hits the caller may see may be missing).
    """

    hits: list[list[Row]]
    strategy: str
    examined: int = 0
    complete: bool = True
    access: Access | None = None

    @property
    def returned(self) -> int:
        """How many rows the read returns in total."""
        return sum(len(rows) for rows in self.hits)


@dataclass(slots=True)
class Listed:
    """A listing's admitted rows, in the store's order."""

    rows: list[Row] = field(default_factory=list)
    strategy: str = "empty"
    examined: int = 0


@dataclass(slots=True)
class Counted:
    """A count's outcome."""

    count: int = 0
    strategy: str = "empty"
    examined: int = 0


def top_k(
    policy: TenancyPolicy,
    source: SearchSource,
    *,
    k: int,
    n_queries: int,
    caller: Filter | None,
    settings: ReadSettings,
    collection: str | None = None,
    action: Action = "view",
) -> Step[TopK]:
    """The ``k`` nearest records the caller may ``action``, for ``n_queries`` queries."""
    planned = yield from _planned(policy, caller, settings, action, collection, "top_k", k=k)
    if planned is None:
        return TopK([[] for _ in range(n_queries)], "empty")
    access, plan = planned
    out: TopK | None = None
    if plan.postfilter:
        out = yield from _postfilter(policy, source, plan, access, k, n_queries, collection)
        if out is None:
            fallback = plan.fallback_plan()
            assert fallback is not None
            plan = fallback
    if out is None:
        out = yield from _prefilter(policy, source, plan, access, k, n_queries, collection)
    out.access = access
    policy.audit(
        strategy=out.strategy,
        examined=out.examined,
        returned=out.returned,
        dropped=out.examined - out.returned,
        complete=out.complete,
        collection=collection,
        access=access,
        returned_ids=(row.shown_id for rows in out.hits for row in rows),
    )
    return out


def _postfilter(
    policy: TenancyPolicy,
    source: SearchSource,
    plan: ReadPlan,
    access: Access,
    k: int,
    n_queries: int,
    collection: str | None,
) -> Step[TopK | None]:
    """The adaptive over-fetch; ``None`` when ``auto`` should fall back to the pre-filter."""
    run = OverFetchRun[Row](
        plan,
        k,
        n_queries,
        admit=lambda row: policy.recheck(
            row.meta, access, row.pid, postfiltered=True, collection=collection
        ),
        key=lambda row: row.pid,
        distance=lambda row: row.distance,
    )
    for fetch, which in run.rounds():
        run.feed(which, fetch, (yield from source.search(plan.filters[0], fetch, which, None)))
    gathered = run.results()
    complete = all(g.complete for g in gathered)
    if not complete and plan.fallback is not None:
        return None
    return TopK(
        [g.hits for g in gathered],
        "postfilter",
        examined=sum(g.examined for g in gathered),
        complete=complete,
    )


def _prefilter(
    policy: TenancyPolicy,
    source: SearchSource,
    plan: ReadPlan,
    access: Access,
    k: int,
    n_queries: int,
    collection: str | None,
) -> Step[TopK]:
    every = list(range(n_queries))
    per_query: list[list[list[Row]]] = [[] for _ in range(n_queries)]
    for flt in plan.filters:
        runs = yield from source.search(flt, k, every, plan.ids)
        for q, rows in enumerate(runs):
            per_query[q].append(rows)
    examined = 0
    hits: list[list[Row]] = []
    for runs in per_query:
        top = merge_top_k(runs, k, distance=lambda row: row.distance)
        examined += len(top)
        kept = [r for r in top if policy.recheck(r.meta, access, r.pid, collection=collection)]
        # Stores with approximate ordering (pgvector relaxed_order) may return rows
        # slightly out of order: what is returned is sorted.
        kept.sort(key=lambda row: row.distance)
        hits.append(kept)
    return TopK(hits, plan.strategy, examined=examined)


def listing(
    policy: TenancyPolicy,
    source: ListSource,
    *,
    caller: Filter | None,
    settings: ReadSettings,
    limit: int | None = None,
    offset: int | None = None,
    collection: str | None = None,
    action: Action = "view",
) -> Step[Listed]:
    """The records the caller may ``action`` under ``caller``, ``offset``/``limit`` applied."""
    planned = yield from _planned(policy, caller, settings, action, collection, "listing")
    if planned is None:
        return Listed()
    access, plan = planned
    single = len(plan.filters) == 1
    rows: list[Row] = []
    for flt in plan.filters:
        if single:
            rows.extend((yield from source.fetch(flt, plan.ids, limit=limit, offset=offset)))
        else:
            # Each chunk may hold the whole page: fetch offset + limit, slice after.
            upto = None if limit is None else (offset or 0) + limit
            rows.extend((yield from source.fetch(flt, None, limit=upto, offset=None)))
    if not single:
        start = offset or 0
        rows = rows[start : None if limit is None else start + limit]
    kept = [r for r in rows if policy.recheck(r.meta, access, r.pid, collection=collection)]
    policy.audit(
        strategy=plan.strategy,
        examined=len(rows),
        returned=len(kept),
        dropped=len(rows) - len(kept),
        collection=collection,
        access=access,
        returned_ids=(row.shown_id for row in kept),
    )
    return Listed(kept, plan.strategy, len(rows))


def counting(
    policy: TenancyPolicy,
    source: CountSource,
    *,
    caller: Filter | None,
    settings: ReadSettings,
    collection: str | None = None,
    action: Action = "view",
) -> Step[Counted]:
    """How many records the caller may ``action`` under ``caller``."""
    planned = yield from _planned(policy, caller, settings, action, collection, "counting")
    if planned is None:
        return Counted()
    access, plan = planned
    examined = returned = 0
    for flt in plan.filters:
        for group, n in (yield from source.count(flt, plan.ids)):
            examined += n
            if policy.recheck(group.meta, access, group.pid, collection=collection):
                returned += n
    strategy = f"{plan.strategy}-count"
    policy.audit(
        strategy=strategy,
        examined=examined,
        returned=returned,
        dropped=examined - returned,
        collection=collection,
        access=access,
    )
    return Counted(returned, strategy, examined)


def _planned(
    policy: TenancyPolicy,
    caller: Filter | None,
    settings: ReadSettings,
    action: Action,
    collection: str | None,
    operation: str,
    *,
    k: int | None = None,
) -> Step[tuple[Access, ReadPlan] | None]:
    """Access and the read plan (only a top-``k`` read may post-filter); ``None``, audited,
    when the caller can see nothing: the store is not asked."""
    policy.begin(collection, operation)
    policy.check_caller_filter(caller)
    access = yield AskAccess(action)
    plan = plan_read(
        policy,
        access,
        caller,
        strategy=settings.strategy,
        max_ids_per_query=settings.max_ids_per_query,
        k=k,
        postfilter_min_ids=settings.postfilter_min_ids,
        overfetch=settings.overfetch,
        native_ids=settings.native_ids,
    )
    if plan is None:
        policy.audit(
            strategy="empty",
            examined=0,
            returned=0,
            dropped=0,
            collection=collection,
            access=access,
        )
        return None
    return access, plan
