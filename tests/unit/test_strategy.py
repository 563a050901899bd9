"""The read strategies: plans, the post-filter's adaptive over-fetch and its re-check.

Pure logic with a fake store; the adapter suites prove the same on real servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.scope import Access, Scope
from sentinel_vectors.strategy import (
    Gathered,
    OverFetch,
    OverFetchRun,
    ReadPlan,
    plan_read,
)
from tests.unit.test_policy import WS, StaticAuth

OTHER_WS = str(uuid.uuid4())


def postfilter_top_k_sync[T](
    plan: ReadPlan,
    k: int,
    n_queries: int,
    search: Callable[[int, list[int]], Sequence[Sequence[T]]],
    *,
    admit: Callable[[T], bool],
    key: Callable[[T], str],
    distance: Callable[[T], float],
) -> list[Gathered[T]]:
    """The over-fetch loop as the engine's top-k workflow drives it, over a plain search."""
    run = OverFetchRun(plan, k, n_queries, admit, key, distance)
    for fetch, which in run.rounds():
        run.feed(which, fetch, search(fetch, which))
    return run.results()


async def postfilter_top_k[T](
    plan: ReadPlan,
    k: int,
    n_queries: int,
    search: Callable[[int, list[int]], Awaitable[Sequence[Sequence[T]]]],
    *,
    admit: Callable[[T], bool],
    key: Callable[[T], str],
    distance: Callable[[T], float],
) -> list[Gathered[T]]:
    run = OverFetchRun(plan, k, n_queries, admit, key, distance)
    for fetch, which in run.rounds():
        run.feed(which, fetch, await search(fetch, which))
    return run.results()


def make_policy() -> TenancyPolicy:
    return TenancyPolicy(Scope.of(StaticAuth(), resource_type="document"))


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


def access(resources: list[str], *, full: bool = False) -> Access:
    return Access("view", full, frozenset(resources))


# -- OverFetch -------------------------------------------------------------------------


def test_overfetch_schedule_grows_to_the_cap() -> None:
    assert OverFetch(first=10, growth=4, max_candidates=2000).schedule(10) == (100, 400, 1600, 2000)
    assert OverFetch(first=2, growth=2, max_candidates=8).schedule(3) == (6, 8)


def test_overfetch_never_asks_fewer_than_k() -> None:
    assert OverFetch(first=1, growth=2, max_candidates=5).schedule(50) == (50,)


@pytest.mark.parametrize(
    "kwargs", [{"first": 0}, {"growth": 1}, {"max_candidates": 0}, {"first": True}]
)
def test_overfetch_refuses_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        OverFetch(**kwargs)  # type: ignore[arg-type]


# -- plan_read -------------------------------------------------------------------------


def test_nothing_visible_plans_nothing() -> None:
    assert plan_read(make_policy(), access([]), None, k=10, strategy="postfilter") is None


def test_auto_prefilters_below_the_postfilter_threshold() -> None:
    plan = plan_read(make_policy(), access(ids(99)), None, k=10, postfilter_min_ids=100)
    assert plan is not None
    assert plan.strategy == "prefilter"
    assert not plan.postfilter


def test_auto_postfilters_from_the_threshold_with_a_prefilter_fallback() -> None:
    policy = make_policy()
    plan = plan_read(policy, access(ids(100)), None, k=10, postfilter_min_ids=100)
    assert plan is not None
    assert plan.postfilter
    assert plan.strategy == "postfilter"
    # The store sees the workspace only; the resource constraint is the re-check.
    assert plan.filters == (F.eq("workspace_id", WS),)
    fallback = plan.fallback_plan()
    assert fallback is not None
    assert fallback.strategy == "prefilter"
    assert fallback.filters == (policy.read_filter(access(ids(100))),)


def test_auto_never_postfilters_without_a_threshold() -> None:
    plan = plan_read(make_policy(), access(ids(5000)), None, k=10, postfilter_min_ids=None)
    assert plan is not None
    assert not plan.postfilter


def test_forced_postfilter_has_no_fallback_and_keeps_the_caller_filter() -> None:
    caller = F.eq("lang", "en")
    plan = plan_read(make_policy(), access(ids(3)), caller, k=5, strategy="postfilter")
    assert plan is not None
    assert plan.postfilter
    assert plan.fallback_plan() is None
    assert plan.filters == (F.and_(F.eq("workspace_id", WS), caller),)
    assert plan.fetch == OverFetch().schedule(5)


def test_postfilter_applies_to_top_k_searches_only() -> None:
    plan = plan_read(make_policy(), access(ids(3)), None, k=None, strategy="postfilter")
    assert plan is not None
    assert not plan.postfilter
    assert plan.strategy == "prefilter"


def test_full_access_is_the_workspace_prefilter_whatever_is_forced() -> None:
    plan = plan_read(make_policy(), access([], full=True), None, k=10, strategy="postfilter")
    assert plan is not None
    assert not plan.postfilter
    assert plan.filters == (F.eq("workspace_id", WS),)


def test_chunked_prefilter_covers_every_id_once() -> None:
    every = ids(25)
    plan = plan_read(make_policy(), access(every), None, k=10, max_ids_per_query=10)
    assert plan is not None
    assert plan.strategy == "chunked-prefilter"
    seen: list[str] = []
    for flt in plan.filters:
        assert isinstance(flt, F.And)
        ws, members = flt.items
        assert ws == F.eq("workspace_id", WS)
        assert isinstance(members, F.Membership)
        seen += [str(v) for v in members.values]
    assert sorted(seen) == sorted(every)
    assert len(plan.filters) == 3


def test_a_caller_filter_naming_a_tenancy_key_is_refused_for_every_strategy() -> None:
    for strategy in ("auto", "prefilter", "chunked-prefilter", "postfilter"):
        with pytest.raises(ReservedKeyError):
            plan_read(
                make_policy(),
                access(ids(1)),
                F.eq("workspace_id", OTHER_WS),
                k=10,
                strategy=strategy,  # type: ignore[arg-type]
            )


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        plan_read(make_policy(), access(ids(1)), None, strategy="magic")  # type: ignore[arg-type]


# -- the post-filter run ----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    distance: float
    workspace_id: str
    resource_id: str


class FakeStore:
    """Rows of one workspace (plus planted foreign rows), nearest first; counts fetches."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = sorted(rows, key=lambda r: r.distance)
        self.fetches: list[int] = []

    def search(self, fetch: int, which: list[int]) -> list[list[Row]]:
        self.fetches.append(fetch)
        return [self.rows[:fetch] for _ in which]

    async def asearch(self, fetch: int, which: list[int]) -> Sequence[Sequence[Row]]:
        await asyncio.sleep(0)
        return self.search(fetch, which)


def world(n: int, visible_every: int, *, foreign: int = 0) -> tuple[list[Row], list[str]]:
    """``n`` rows, one resource each; every ``visible_every``-th is visible."""
    resources = ids(n)
    rows = [Row(f"r{i}", i / n, WS, resources[i]) for i in range(n)]
    rows += [Row(f"x{i}", (i + 0.5) / n, OTHER_WS, resources[i]) for i in range(foreign)]
    return rows, resources[::visible_every]


def row_rules(policy: TenancyPolicy, acc: Access) -> dict[str, Callable[[Row], Any]]:
    """The post-filter's ``admit``, ``key`` and ``distance`` for :class:`Row`: the
    policy's post-filter re-check, as the engine passes it."""
    return {
        "admit": lambda r: policy.recheck(
            {"workspace_id": r.workspace_id, "resource_id": r.resource_id},
            acc,
            r.id,
            postfiltered=True,
        ),
        "key": lambda r: r.id,
        "distance": lambda r: r.distance,
    }


def run(
    policy: TenancyPolicy, plan: ReadPlan, store: FakeStore, acc: Access, k: int, n: int = 1
) -> list[list[Row]]:
    got = postfilter_top_k_sync(plan, k, n, store.search, **row_rules(policy, acc))
    assert all(g.examined >= len(g.hits) for g in got)
    return [g.hits for g in got]


def plan_of(acc: Access, k: int, overfetch: OverFetch) -> ReadPlan:
    plan = plan_read(make_policy(), acc, None, k=k, strategy="postfilter", overfetch=overfetch)
    assert plan is not None
    return plan


def test_postfilter_fills_k_with_visible_rows_nearest_first() -> None:
    rows, visible = world(1000, 10)
    acc = access(visible)
    policy = make_policy()
    plan = plan_of(acc, 10, OverFetch(first=2, growth=4, max_candidates=1000))
    store = FakeStore(rows)
    got = postfilter_top_k_sync(plan, 10, 1, store.search, **row_rules(policy, acc))[0]
    assert got.complete
    assert [r.id for r in got.hits] == [f"r{i}" for i in range(0, 100, 10)]
    # 2 of the first 20 were visible: ~150 more needed, so the run jumps to 320.
    assert store.fetches == [20, 320]
    assert got.fetches == 2
    assert policy.violations == 0  # denied resources are expected, not violations


def test_postfilter_reports_incomplete_when_the_cap_cannot_fill_k() -> None:
    rows, visible = world(1000, 100)  # 10 visible rows, spread over all 1000
    acc = access(visible)
    plan = plan_of(acc, 10, OverFetch(first=2, growth=2, max_candidates=200))
    store = FakeStore(rows)
    policy = make_policy()
    got = postfilter_top_k_sync(plan, 10, 1, store.search, **row_rules(policy, acc))[0]
    assert not got.complete
    assert [r.id for r in got.hits] == ["r0", "r100"]
    assert store.fetches == [20, 200]  # 1 in 20 visible: straight to the cap


def test_postfilter_is_complete_when_the_workspace_runs_out() -> None:
    rows, visible = world(30, 10)  # 3 visible rows only
    acc = access(visible)
    store = FakeStore(rows)
    hits = run(make_policy(), plan_of(acc, 10, OverFetch(first=2)), store, acc, 10)
    assert [r.id for r in hits[0]] == ["r0", "r10", "r20"]
    assert store.fetches == [20, 320]  # the second fetch returned fewer than asked: all seen


def test_postfilter_rechecks_every_candidate_and_counts_foreign_rows_as_violations() -> None:
    # A broken store that ignores the workspace filter returns rows of another workspace
    # (same resource ids, even): they never leave, and each is a counted violation.
    rows, visible = world(200, 2, foreign=50)
    acc = access(visible)
    policy = make_policy()
    hits = run(policy, plan_of(acc, 10, OverFetch(first=2)), FakeStore(rows), acc, 10)
    assert hits[0]
    assert all(r.workspace_id == WS and r.resource_id in visible for r in hits[0])
    assert policy.violations > 0


def test_postfilter_batches_only_the_queries_still_pending() -> None:
    rows, visible = world(400, 4)
    acc = access(visible)
    calls: list[tuple[int, list[int]]] = []

    def search(fetch: int, which: list[int]) -> list[list[Row]]:
        calls.append((fetch, which))
        # query 0 finds every row visible, query 1 sees the shared order
        return [
            [r for r in rows if r.resource_id in visible][:fetch] if q == 0 else rows[:fetch]
            for q in which
        ]

    policy = make_policy()
    got = postfilter_top_k_sync(
        plan_of(acc, 5, OverFetch(first=1, growth=4, max_candidates=100)),
        5,
        2,
        search,
        **row_rules(policy, acc),
    )
    assert calls == [(5, [0, 1]), (20, [1])]
    assert all(g.complete and len(g.hits) == 5 for g in got)


async def test_the_async_driver_matches_the_blocking_one() -> None:
    rows, visible = world(500, 7)
    acc = access(visible)
    policy = make_policy()
    plan = plan_of(acc, 10, OverFetch(first=3))
    sync_hits = run(policy, plan, FakeStore(rows), acc, 10)[0]
    store = FakeStore(rows)
    got = await postfilter_top_k(plan, 10, 1, store.asearch, **row_rules(policy, acc))
    assert got[0].hits == sync_hits
    assert got[0].complete


def test_a_prefilter_plan_cannot_be_run_as_a_postfilter() -> None:
    plan = plan_read(make_policy(), access(ids(2)), None, k=10, strategy="prefilter")
    assert plan is not None
    with pytest.raises(InvalidInputError):
        postfilter_top_k_sync(
            plan, 10, 1, FakeStore([]).search, admit=bool, key=str, distance=float
        )


# -- the re-check's post-filter mode ------------------------------------------------------


def test_recheck_postfiltered_drops_denied_resources_silently() -> None:
    policy = make_policy()
    acc = access(ids(1))
    denied = {"workspace_id": WS, "resource_id": str(uuid.uuid4())}
    assert not policy.recheck(denied, acc, "a", postfiltered=True)
    assert policy.violations == 0
    assert not policy.recheck(denied, acc, "a")  # a pre-filter hit: that is a violation
    assert policy.violations == 1


def test_recheck_postfiltered_still_counts_another_workspace() -> None:
    policy = make_policy()
    acc = access(ids(1))
    foreign = {"workspace_id": OTHER_WS, "resource_id": ids(1)[0]}
    assert not policy.recheck(foreign, acc, "a", postfiltered=True)
    assert policy.violations == 1
    assert policy.recheck(
        {"workspace_id": WS, "resource_id": ids(1)[0]}, acc, "b", postfiltered=True
    )


# -- Access from the SDK's UUIDs ----------------------------------------------------------


def test_access_from_uuids_allows_the_canonical_spelling_only() -> None:
    rid = uuid.uuid4()
    acc = Access.from_uuids("view", False, [rid])
    assert acc.count == 1
    assert acc.allows(str(rid))
    assert not acc.allows(str(rid).upper())
    assert not acc.allows("{" + str(rid) + "}")
    assert not acc.allows(str(uuid.uuid4()))
    assert not acc.allows(rid)  # stored resource ids are strings
    assert not acc.allows("not a uuid")
    assert acc == Access("view", False, frozenset({str(rid)}))
    assert acc.resource_ids == frozenset({str(rid)})


def test_access_is_immutable_and_empty_without_ids() -> None:
    acc = Access.from_uuids("view", False, [])
    assert acc.is_empty
    with pytest.raises(AttributeError):
        acc.full = True  # type: ignore[misc]
    assert not Access.from_uuids("view", True, []).is_empty


def test_auto_gives_up_after_one_fetch_when_the_cap_cannot_fill_k() -> None:
    rows, resources = world(1000, 1)
    acc = access([resources[999]])  # one visible row, the farthest
    policy = make_policy()
    plan = plan_read(policy, acc, None, k=10, postfilter_min_ids=1)
    assert plan is not None
    assert plan.postfilter
    store = FakeStore(rows)
    hits = run(policy, plan, store, acc, 10)
    assert store.fetches == [100]  # none of 100 visible: ~3,000 needed > the 2,000 cap
    assert hits == [[]]
    assert plan.fallback_plan() is not None  # the adapter runs the pre-filter next


def test_native_ids_hand_the_list_over_instead_of_a_string_filter() -> None:
    rids = [uuid.UUID(i) for i in ids(3)]
    acc = Access.from_uuids("view", False, rids)
    caller = F.eq("lang", "en")
    plan = plan_read(make_policy(), acc, caller, k=10, native_ids=True)
    assert plan is not None
    assert plan.ids is acc
    assert plan.filters == (F.and_(F.eq("workspace_id", WS), caller),)
    assert acc.uuids == frozenset(rids)
    # Chunked plans, full access and post-filters never hand ids over.
    chunked = plan_read(make_policy(), acc, None, k=10, native_ids=True, max_ids_per_query=2)
    assert chunked is not None
    assert chunked.ids is None
    full = plan_read(make_policy(), access([], full=True), None, k=10, native_ids=True)
    assert full is not None
    assert full.ids is None
    post = plan_read(make_policy(), acc, None, k=10, native_ids=True, strategy="postfilter")
    assert post is not None
    assert post.ids is None
    fallback = plan_read(
        make_policy(), acc, None, k=10, native_ids=True, postfilter_min_ids=1
    ).fallback_plan()  # type: ignore[union-attr]
    assert fallback is not None
    assert fallback.ids is acc


def test_access_uuids_from_strings() -> None:
    rid = str(uuid.uuid4())
    assert Access("view", False, frozenset({rid})).uuids == frozenset({uuid.UUID(rid)})


def test_access_keeps_the_sdk_answer_as_given_and_hashes_it_only_to_check() -> None:
    rids = [uuid.uuid4() for _ in range(3)] + [uuid.UUID(int=0xABC)]
    acc = Access.from_uuids("view", False, rids)
    # Bound as given (the answer's order, the SDK's own objects): nothing converted.
    assert acc.uuid_list == tuple(rids)
    assert all(a is b for a, b in zip(acc.uuid_list, rids, strict=True))
    assert all(acc.allows(str(r)) for r in rids)
    assert not acc.allows(str(uuid.UUID(int=8)))
    assert not acc.allows("00000000-0000-0000-0000-000000000ABC")
    sorted_ids = sorted(str(r) for r in rids)
    from_strings = Access("view", False, frozenset(sorted_ids))
    assert from_strings.uuid_list == tuple(uuid.UUID(r) for r in sorted_ids)
