"""Native filters under the tenancy filter: a caller's filter, ids and prefetch stages.

Pure functions over ``models.Filter``: the tenancy filter (compiled from the core's
neutral filter) is always the outer ``must``, so whatever the caller adds only narrows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from sentinel_vectors.filters import And, Comparison, Filter, FilterCompiler, Membership, Not, Or
from sentinel_vectors_qdrant.compiler import QdrantCondition

__all__ = ["NEUTRAL", "CallerFilter", "nest", "scope_prefetch", "to_filter", "with_ids"]

NEUTRAL = (Comparison, Membership, And, Or, Not)
"""The node types of a neutral (:mod:`sentinel_vectors.filters`) filter."""


@dataclass(frozen=True, slots=True)
class CallerFilter:
    """A caller's filter, validated: Qdrant-native (ids translated) and/or neutral."""

    native: models.Filter | None = None
    neutral: Filter | None = None


def to_filter(compiler: FilterCompiler[QdrantCondition], node: Filter) -> models.Filter:
    """A neutral filter compiled to one ``models.Filter``."""
    compiled = compiler.compile(node)
    return compiled if isinstance(compiled, models.Filter) else models.Filter(must=[compiled])


def nest(tenancy: models.Filter, caller: models.Filter | None) -> models.Filter:
    """The caller's filter under the tenancy filter's ``must``: it can only narrow."""
    if caller is None:
        return tenancy
    plain = tenancy.should is None and tenancy.must_not is None and tenancy.min_should is None
    if plain and isinstance(tenancy.must, list):
        return models.Filter(must=[*tenancy.must, caller])
    return models.Filter(must=[tenancy, caller])


def with_ids(flt: models.Filter, pids: list[str]) -> models.Filter:
    """``flt`` narrowed to the stored ids ``pids``."""
    ids: list[models.ExtendedPointId] = list(pids)
    return nest(flt, models.Filter(must=[models.HasIdCondition(has_id=ids)]))


def scope_prefetch(prefetch: Any, tenancy: models.Filter) -> Any:
    """Put the tenancy filter on every prefetch stage, with the stage's own filter under it."""
    if prefetch is None:
        return None
    if isinstance(prefetch, list):
        return [scope_prefetch(p, tenancy) for p in prefetch]
    assert isinstance(prefetch, models.Prefetch)
    return prefetch.model_copy(
        update={
            "filter": nest(tenancy, prefetch.filter),
            "prefetch": scope_prefetch(prefetch.prefetch, tenancy),
        }
    )
