"""Read strategies: how the resource-id constraint reaches the store.

``prefilter``
    One query with ``resource IN ids`` (or the workspace alone under full access).
``chunked-prefilter``
    Large accessible lists are split into chunks of at most ``max_ids_per_query`` ids,
    one query per chunk, and the per-chunk top-k lists are merged. Stores cap the
    number of bound values in one filter (Chroma's SQLite refuses more than 32,766).

Issue #7's benchmarks choose the thresholds; callers can force a strategy.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.filters import Filter, and_, eq, in_
from sentinel_vectors.policy import TenancyPolicy
from sentinel_vectors.scope import WORKSPACE_KEY, Access

__all__ = ["DEFAULT_MAX_IDS_PER_QUERY", "ReadPlan", "StrategyName", "merge_top_k", "plan_read"]

StrategyName = Literal["auto", "prefilter", "chunked-prefilter"]
"""A read strategy a caller may force; ``auto`` lets the plan choose."""

DEFAULT_MAX_IDS_PER_QUERY = 20_000
"""Accessible-list size above which reads are chunked (see module docstring).

Measured on a Chroma server (``benchmarks/chroma_large_acl.py``, 20k chunks): fewer,
larger ``IN`` lists are faster (30k ids: 184 ms as one query, 266 ms as three of 10k,
824 ms as twelve of 2.5k), and Chroma's SQLite refuses more than 32,766 bound values in
one query. 20,000 keeps a wide margin under that cap for the caller's own filter.
"""


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The filters to run (one query each) and the strategy's name for the audit log."""

    strategy: str
    filters: tuple[Filter, ...]


def plan_read(
    policy: TenancyPolicy,
    access: Access,
    caller: Filter | None,
    *,
    strategy: StrategyName = "auto",
    max_ids_per_query: int = DEFAULT_MAX_IDS_PER_QUERY,
) -> ReadPlan | None:
    """Plan a scoped read; ``None`` when the caller can see nothing (skip the store)."""
    if strategy not in ("auto", "prefilter", "chunked-prefilter"):
        raise InvalidInputError(f"unknown read strategy {strategy!r}")
    whole = policy.read_filter(access, caller)
    if whole is None:
        return None
    ids = sorted(access.resource_ids)
    chunked = strategy == "chunked-prefilter" or (
        strategy == "auto" and len(ids) > max_ids_per_query
    )
    if access.full or not chunked:
        return ReadPlan("prefilter", (whole,))
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
