"""Read strategies: how the resource-id constraint reaches the store.

``prefilter``
    One query with ``resource IN ids`` (or the workspace alone under full access). The
    store returns the true top-k of what the caller may see, as far as its index can.
``chunked-prefilter``
    Large accessible lists are split into chunks of at most ``max_ids_per_query`` ids,
    one query per chunk, and the per-chunk top-k lists are merged. Stores cap the
    number of bound values in one filter (Chroma's SQLite refuses more than 32,766).
``postfilter``
    One query on the workspace alone (ANDed with the caller's filter), asking for more
    than ``k`` candidates; every candidate is re-checked in Python against the accessible
    set, and the fetch grows (``OverFetch``, sized from the visible share seen so far)
    until ``k`` hits pass, the workspace has no more candidates, or ``max_candidates``
    is reached. The result says whether it is ``complete``: ``False`` when the cap was
    reached with fewer than ``k`` hits, so hits the caller may see could be missing.
    Under ``auto`` a post-filter that cannot fill ``k`` gives up (as soon as the visible
    share says so) and the pre-filter plan answers: ``auto`` is always complete.

``auto`` pre-filters, chunked above ``max_ids_per_query`` ids, and post-filters when
the adapter gives a ``postfilter_min_ids`` and the accessible list is at least that long
(``None`` never post-filters; Chroma 20,001, Qdrant local mode 1,000, pgvector and a
Qdrant server ``None``). With ``native_ids`` a single pre-filter query hands the id
list to the adapter (:attr:`ReadPlan.ids`) instead of a neutral ``in`` node. Only
top-k searches post-filter: ``get``, ``count`` and ``delete`` always pre-filter. The
thresholds come from ``python -m benchmarks`` (see ``docs/benchmarks.md``); callers can
force any strategy.

Sans-I/O: the engine's top-k workflow (:func:`sentinel_vectors.engine.top_k`) runs the
plan's filters through an adapter's search source and drives :class:`OverFetchRun`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sentinel_vectors.access import WORKSPACE_KEY, Access
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, and_, eq, in_
from sentinel_vectors.policy import TenancyPolicy

__all__ = [
    "DEFAULT_MAX_IDS_PER_QUERY",
    "DEFAULT_OVERFETCH",
    "STRATEGIES",
    "Gathered",
    "OverFetch",
    "OverFetchRun",
    "ReadPlan",
    "StrategyName",
    "merge_top_k",
    "plan_read",
]

StrategyName = Literal["auto", "prefilter", "chunked-prefilter", "postfilter"]
"""A read strategy a caller may force; ``auto`` lets the plan choose."""

STRATEGIES: tuple[StrategyName, ...] = ("auto", "prefilter", "chunked-prefilter", "postfilter")

DEFAULT_MAX_IDS_PER_QUERY = 20_000
"""Accessible-list size above which reads are chunked (see module docstring).

Fewer, larger ``IN`` lists are faster, and stores cap the values one query may bind
(Chroma's SQLite: 32,766); 20,000 keeps a wide margin under that cap for the caller's
own filter. The measurements are in ``docs/benchmarks.md`` (Chroma: large accessible
lists).
"""


@dataclass(frozen=True, slots=True)
class OverFetch:
    """How a post-filter sizes its candidate fetches for a top-``k`` search.

    The schedule: ``k * first`` candidates, then ``growth`` times more each step, up to
    ``max_candidates`` (never fewer than ``k``). Each fetch is one store query; a later
    fetch replaces the earlier candidates (stores have no ANN cursor). The run is
    adaptive: after each fetch it estimates the candidates still needed from the
    visible share it saw (``1.5 * k * examined / max(admitted, 0.5)``) and jumps to the first
    scheduled size that covers it. When the estimate exceeds ``max_candidates`` and
    the plan has a fallback (``auto``), it gives up at once and the pre-filter answers.
    """

    first: int = 10
    growth: int = 4
    max_candidates: int = 2_000

    def __post_init__(self) -> None:
        for name in ("first", "growth", "max_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"OverFetch.{name} must be a positive integer")
        if self.growth < 2:
            raise InvalidInputError("OverFetch.growth must be at least 2")

    def schedule(self, k: int) -> tuple[int, ...]:
        """The candidate counts of successive fetches for a top-``k`` search."""
        cap = max(self.max_candidates, k)
        sizes = [min(k * self.first, cap)]
        while sizes[-1] < cap:
            sizes.append(min(sizes[-1] * self.growth, cap))
        return tuple(sizes)


DEFAULT_OVERFETCH = OverFetch()
"""The post-filter's default fetch schedule: 10k, then x4, up to 2,000 candidates."""


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The filters to run (one query each) and the strategy's name for the audit log.

    A post-filter plan has one filter (the workspace and the caller's filter), the
    ``fetch`` schedule, and, under ``auto``, the pre-filter ``fallback`` to run when the
    post-filter could not fill ``k``.
    """

    strategy: str
    filters: tuple[Filter, ...]
    fetch: tuple[int, ...] = ()
    fallback: _Deferred | None = None
    ids: Access | None = None
    """Set when the adapter asked to bind the id list natively (``native_ids=True``):
    every filter then lacks the resource constraint, and the adapter must AND
    ``resource_key IN ids`` to each query itself (pgvector binds ``ids.uuid_list`` as one
    ``uuid[]``). The per-hit re-check applies as always."""

    @property
    def postfilter(self) -> bool:
        """Whether this plan post-filters (see :class:`OverFetchRun`)."""
        return bool(self.fetch)

    def fallback_plan(self) -> ReadPlan | None:
        """The pre-filter plan to run when this post-filter could not fill ``k`` (``auto``)."""
        return None if self.fallback is None else self.fallback.plan()


def plan_read(
    policy: TenancyPolicy,
    access: Access,
    caller: Filter | None,
    *,
    strategy: StrategyName = "auto",
    max_ids_per_query: int = DEFAULT_MAX_IDS_PER_QUERY,
    k: int | None = None,
    postfilter_min_ids: int | None = None,
    overfetch: OverFetch | None = None,
    native_ids: bool = False,
) -> ReadPlan | None:
    """Plan a scoped read; ``None`` when the caller can see nothing (skip the store).

    ``k`` is the number of hits of a top-k search (``None`` for gets, counts and
    deletes, which never post-filter). ``native_ids``: a single-query pre-filter leaves
    the id list out of the neutral filter and hands it over in :attr:`ReadPlan.ids`,
    for adapters that bind it natively (no string list is built).
    """
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown read strategy {strategy!r}")
    policy.check_caller_filter(caller)
    if access.is_empty:
        return None
    if k is None or access.full:
        # Full access: the pre-filter is the workspace alone, nothing to post-filter.
        return _prefilter_plan(policy, access, caller, strategy, max_ids_per_query, native_ids)
    wants_post = strategy == "postfilter" or (
        strategy == "auto" and postfilter_min_ids is not None and access.count >= postfilter_min_ids
    )
    if not wants_post:
        return _prefilter_plan(policy, access, caller, strategy, max_ids_per_query, native_ids)
    return ReadPlan(
        "postfilter",
        (policy.workspace_filter(caller),),
        fetch=(overfetch or DEFAULT_OVERFETCH).schedule(k),
        fallback=_Deferred(policy, access, caller, max_ids_per_query, native_ids)
        if strategy == "auto"
        else None,
    )


@dataclass(frozen=True, slots=True)
class _Deferred:
    """The pre-filter plan an ``auto`` post-filter falls back to, built only if needed."""

    policy: TenancyPolicy
    access: Access
    caller: Filter | None
    max_ids_per_query: int
    native_ids: bool = False

    def plan(self) -> ReadPlan:
        return _prefilter_plan(
            self.policy, self.access, self.caller, "auto", self.max_ids_per_query, self.native_ids
        )


def _prefilter_plan(
    policy: TenancyPolicy,
    access: Access,
    caller: Filter | None,
    strategy: StrategyName,
    max_ids_per_query: int,
    native_ids: bool = False,
) -> ReadPlan:
    chunked = strategy == "chunked-prefilter" or (
        strategy in ("auto", "postfilter") and access.count > max_ids_per_query
    )
    if native_ids and not access.full and not chunked:
        return ReadPlan("prefilter", (policy.workspace_filter(caller),), ids=access)
    if access.full or not chunked:
        whole = policy.read_filter(access, caller)
        assert whole is not None  # access is not empty
        return ReadPlan("prefilter", (whole,))
    ids = list(access.resource_ids)  # any partition will do: results are merged
    ws = eq(WORKSPACE_KEY, policy.scope.workspace_id)
    filters = []
    for start in range(0, len(ids), max_ids_per_query):
        part: list[Filter] = [
            ws,
            in_(policy.scope.resource_key, ids[start : start + max_ids_per_query]),
        ]
        if caller is not None:
            part.append(caller)
        filters.append(and_(*part))
    return ReadPlan("chunked-prefilter", tuple(filters))


def merge_top_k[T](
    runs: Iterable[Sequence[T]], k: int, *, distance: Callable[[T], float]
) -> list[T]:
    """Merge per-chunk result lists (each sorted by ascending distance) into one top-k."""
    return heapq.nsmallest(k, (hit for run in runs for hit in run), key=distance)


@dataclass(slots=True)
class Gathered[T]:
    """What a post-filter found for one query.

    ``hits``: at most ``k`` admitted hits, nearest first. ``examined``: candidates
    re-checked. ``complete``: ``k`` hits were admitted, or the store ran out of
    candidates (so nothing the caller may see was left out by the over-fetch cap).
    """

    hits: list[T] = field(default_factory=list)
    examined: int = 0
    fetches: int = 0
    complete: bool = False


class OverFetchRun[T]:
    """The over-fetch loop's state: ``rounds()`` says what to fetch, ``feed()`` takes it.

    Sans-I/O: the engine's top-k workflow and the two functions above drive it.
    """

    def __init__(
        self,
        plan: ReadPlan,
        k: int,
        n_queries: int,
        admit: Callable[[T], bool],
        key: Callable[[T], str],
        distance: Callable[[T], float],
    ) -> None:
        if not plan.postfilter:
            raise InvalidInputError("a post-filter run needs a post-filter plan")
        self.plan, self.k = plan, k
        self.admit, self.key, self.distance = admit, key, distance
        self.out = [Gathered[T]() for _ in range(n_queries)]
        self.kept: list[dict[str, T]] = [{} for _ in range(n_queries)]
        self.seen: list[set[str]] = [set() for _ in range(n_queries)]
        self.pending = list(range(n_queries))

    def rounds(self) -> Iterable[tuple[int, list[int]]]:
        """``(fetch, pending queries)`` until every query is done or given up."""
        fetch = self.plan.fetch[0]
        while self.pending:
            yield fetch, list(self.pending)
            if not self.pending:
                return
            wanted = max(self.estimate(q) for q in self.pending)
            cap = self.plan.fetch[-1]
            if wanted > cap and self.plan.fallback is not None and fetch < cap:
                # The visible share seen so far says the cap cannot fill k: under auto,
                # stop here and let the pre-filter answer rather than fetch in vain.
                self.pending = []
                return
            later = [f for f in self.plan.fetch if f > fetch]
            if not later:
                self.pending = []  # the cap was fetched: what is missing stays missing
                return
            fetch = next((f for f in later if f >= wanted), later[-1])

    def estimate(self, q: int) -> int:
        """Candidates query ``q`` likely needs, from the visible share seen so far."""
        got, kept = self.out[q], len(self.kept[q])
        # None admitted yet: assume half a hit, i.e. a share below 1 in 2x examined.
        return math.ceil(1.5 * self.k * got.examined / max(kept, 0.5))

    def feed(self, which: list[int], fetch: int, runs: Sequence[Sequence[T]]) -> None:
        if len(runs) != len(which):
            raise InvalidInputError("search() must return one candidate list per query asked")
        still: list[int] = []
        for q, candidates in zip(which, runs, strict=True):
            got, kept, seen = self.out[q], self.kept[q], self.seen[q]
            got.fetches += 1
            for hit in candidates:
                hid = self.key(hit)
                if hid in seen:
                    continue
                seen.add(hid)
                got.examined += 1
                if self.admit(hit):
                    kept[hid] = hit
            if len(kept) >= self.k or len(candidates) < fetch:
                got.complete = True
            else:
                still.append(q)
        self.pending = still

    def results(self) -> list[Gathered[T]]:
        for q, got in enumerate(self.out):
            got.hits = heapq.nsmallest(self.k, self.kept[q].values(), key=self.distance)
        return self.out
