"""Universal queries (``query_points``) as edge's ``QueryRequest``.

Qdrant lets a query name points by id (``query=<id>``, recommend, discover and context
inputs); edge takes vectors only. :class:`QueryTranslator` looks the named points'
vectors up first (in the queried collection, or ``lookup_from``) and remembers the ids,
which a server leaves out of the results: the translator excludes them with a
``must_not`` ``has_id`` on the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import qdrant_edge as edge
from qdrant_client import models

from sentinel_vectors.errors import InvalidInputError, UnsupportedError
from sentinel_vectors_qdrant.edge.convert import (
    edge_filter,
    edge_id,
    edge_vector,
    payload_selector,
    search_params,
    vector_selector,
)

__all__ = ["DEFAULT_RRF_K", "QueryTranslator"]

DEFAULT_RRF_K = 2
"""Qdrant's ``k`` for reciprocal rank fusion when a query gives none."""

# Looks up the vector ``using`` of a stored point: (collection, id, using) -> vector.
VectorLookup = Callable[[str, int | uuid.UUID, str], Any]


def _unsupported(what: str) -> UnsupportedError:
    return UnsupportedError(f"qdrant-edge cannot {what}", store="qdrant-edge")


class QueryTranslator:
    """Builds edge query requests for one collection (see the module docstring)."""

    def __init__(self, collection: str, lookup: VectorLookup) -> None:
        self._collection = collection
        self._lookup = lookup
        self.mentioned: set[int | uuid.UUID] = set()

    def request(
        self,
        *,
        query: Any,
        using: str | None,
        prefetch: Any,
        query_filter: Any,
        params: models.SearchParams | None,
        limit: int | None,
        offset: int | None,
        with_payload: Any,
        with_vectors: Any,
        score_threshold: float | None,
        lookup_from: models.LookupLocation | None,
    ) -> edge.QueryRequest:
        """One ``query_points`` call (or one ``models.QueryRequest``) as edge's request."""
        scoring = self.scoring(query, using, lookup_from)
        stages = self.prefetches(prefetch)
        flt = edge_filter(query_filter)
        if self.mentioned:
            mentioned: set[Any] = set(self.mentioned)
            exclude = edge.HasIdCondition(mentioned)
            flt = edge.Filter(must=None if flt is None else [flt], must_not=[exclude])
        return edge.QueryRequest(
            limit=10 if limit is None else limit,
            offset=offset,
            query=scoring,
            prefetches=stages,
            with_vector=vector_selector(with_vectors),
            with_payload=payload_selector(with_payload),
            filter=flt,
            score_threshold=score_threshold,
            params=search_params(params),
        )

    def prefetches(self, prefetch: Any) -> list[edge.Prefetch] | None:
        """``prefetch`` (one stage or a list) as edge's stages."""
        if prefetch is None:
            return None
        stages = prefetch if isinstance(prefetch, list) else [prefetch]
        out: list[edge.Prefetch] = []
        for stage in stages:
            if not isinstance(stage, models.Prefetch):
                raise InvalidInputError(
                    f"prefetch must be models.Prefetch, got {type(stage).__name__}"
                )
            out.append(
                edge.Prefetch(
                    limit=10 if stage.limit is None else stage.limit,
                    query=self.scoring(stage.query, stage.using, stage.lookup_from),
                    prefetches=self.prefetches(stage.prefetch),
                    params=search_params(stage.params),
                    filter=edge_filter(stage.filter),
                    score_threshold=stage.score_threshold,
                )
            )
        return out

    def scoring(self, query: Any, using: str | None, lookup: models.LookupLocation | None) -> Any:
        """A query (``NearestQuery``, fusion, order-by, a bare vector or id, ...) as edge's."""
        if query is None:
            return None
        if isinstance(query, models.NearestQuery):
            if query.mmr is not None:
                raise _unsupported("re-rank with MMR through this client (use a server)")
            return edge.Query.Nearest(self._input(query.nearest, using, lookup), using=using)
        if isinstance(query, models.RecommendQuery):
            return self._recommend(query.recommend, using, lookup)
        if isinstance(query, models.DiscoverQuery):
            disc = query.discover
            return edge.Query.Discover(
                edge.DiscoverQuery(
                    self._input(disc.target, using, lookup),
                    self._pairs(disc.context, using, lookup),
                ),
                using=using,
            )
        if isinstance(query, models.ContextQuery):
            return edge.Query.Context(
                edge.ContextQuery(self._pairs(query.context, using, lookup)), using=using
            )
        if isinstance(query, models.FusionQuery):
            if query.fusion == models.Fusion.DBSF:
                return edge.Fusion.Dbsf()
            return edge.Fusion.Rrf(k=DEFAULT_RRF_K)
        if isinstance(query, models.RrfQuery):
            rrf = query.rrf
            return edge.Fusion.Rrf(
                k=DEFAULT_RRF_K if rrf.k is None else rrf.k,
                weights=None if rrf.weights is None else list(rrf.weights),
            )
        if isinstance(query, models.OrderByQuery):
            return _order_by(query.order_by)
        if isinstance(query, models.SampleQuery):
            return edge.Sample.Random
        if isinstance(query, models.SparseVector | list | tuple | int | str | uuid.UUID) or hasattr(
            query, "tolist"
        ):
            return edge.Query.Nearest(self._input(query, using, lookup), using=using)
        raise _unsupported(f"run a {type(query).__name__} query")

    def _recommend(
        self, rec: models.RecommendInput, using: str | None, lookup: models.LookupLocation | None
    ) -> Any:
        positive = [self._input(v, using, lookup) for v in rec.positive or []]
        negative = [self._input(v, using, lookup) for v in rec.negative or []]
        strategy = rec.strategy or models.RecommendStrategy.AVERAGE_VECTOR
        if strategy == models.RecommendStrategy.AVERAGE_VECTOR:
            # Qdrant's average_vector: avg(positive) + (avg(positive) - avg(negative)),
            # searched as a plain nearest query.
            if not positive or not all(_dense(v) for v in positive + negative):
                raise _unsupported("recommend with average_vector without dense positive examples")
            pos = _mean(positive)
            target = (
                pos
                if not negative
                else [2 * p - n for p, n in zip(pos, _mean(negative), strict=True)]
            )
            return edge.Query.Nearest(target, using=using)
        query = edge.RecommendQuery(positive, negative)
        if strategy == models.RecommendStrategy.BEST_SCORE:
            return edge.Query.RecommendBestScore(query, using=using)
        if strategy == models.RecommendStrategy.SUM_SCORES:
            return edge.Query.RecommendSumScores(query, using=using)
        raise _unsupported(f"recommend with strategy {strategy!r}")

    def _pairs(
        self, pairs: object, using: str | None, lookup: models.LookupLocation | None
    ) -> list[edge.ContextPair]:
        items = [pairs] if isinstance(pairs, models.ContextPair) else list(pairs or [])  # type: ignore[call-overload]
        return [
            edge.ContextPair(
                self._input(p.positive, using, lookup), self._input(p.negative, using, lookup)
            )
            for p in items
        ]

    def _input(self, value: Any, using: str | None, lookup: models.LookupLocation | None) -> Any:
        """A vector input: a vector as edge takes it, or a point id's stored vector."""
        if isinstance(value, bool):
            raise InvalidInputError(f"a query must be a vector or a point id, got {value!r}")
        if isinstance(value, int | str | uuid.UUID):
            pid = edge_id(value)
            collection = self._collection
            name = using or ""
            if lookup is not None:
                collection = lookup.collection
                name = lookup.vector or name
            if collection == self._collection:
                self.mentioned.add(pid)
            return self._lookup(collection, pid, name)
        if isinstance(value, models.Document | models.Image | models.InferenceObject):
            raise _unsupported("embed inference inputs (embed first)")
        return edge_vector(value)


def _order_by(order: object) -> edge.OrderBy:
    if isinstance(order, str):
        return edge.OrderBy(order)
    if not isinstance(order, models.OrderBy):
        raise InvalidInputError(f"order_by must be a key or models.OrderBy, got {order!r}")
    direction = None
    if order.direction is not None:
        desc = order.direction == models.Direction.DESC
        direction = edge.Direction.Desc if desc else edge.Direction.Asc
    start = order.start_from
    if start is not None and not isinstance(start, int | float):
        raise _unsupported("order by a datetime start_from")
    return edge.OrderBy(order.key, direction=direction, start_from=start)


def order_by(order: object) -> edge.OrderBy | None:
    """``scroll(order_by=...)`` as edge's ``OrderBy``."""
    return None if order is None else _order_by(order)


def _dense(vector: Any) -> bool:
    return isinstance(vector, list) and all(isinstance(x, float) for x in vector)


def _mean(vectors: Sequence[list[float]]) -> list[float]:
    n = len(vectors)
    return [sum(column) / n for column in zip(*vectors, strict=True)]
