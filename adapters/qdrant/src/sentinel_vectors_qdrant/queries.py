"""Query rewriting and validation: caller point ids and vectors in a universal query.

A ``query_points`` query may name points by id (``query=<id>``, recommend, discover and
context inputs) and carry ``prefetch`` stages with their own queries and filters.
:class:`QueryRewriter` translates every point id to the stored id (remembering it, so
the client can check the caller may view it), validates every vector against the
collection's :class:`~sentinel_vectors_qdrant.points.VectorSpace`, and validates every
stage's filter. No I/O: the client scopes the result (see
:func:`~sentinel_vectors_qdrant.filtering.scope_prefetch`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from qdrant_client import models

from sentinel_vectors.errors import AccessDeniedError, InvalidInputError
from sentinel_vectors_qdrant.filtering import CallerFilter
from sentinel_vectors_qdrant.points import LogicalId, PointIds, VectorSpace

__all__ = ["PreparedQuery", "QueryRewriter", "check_lookup"]

# Query kinds that carry no point ids and no payload keys of their own.
_PLAIN_QUERIES = frozenset({"OrderByQuery", "FusionQuery", "SampleQuery", "RrfQuery"})


@dataclass
class PreparedQuery:
    """One query (top level or one ``QueryRequest``) with caller inputs validated.

    ``refs``: the stored ids of the points the query names, with the caller's ids.
    """

    query: Any
    prefetch: list[models.Prefetch] | models.Prefetch | None
    caller: CallerFilter
    refs: dict[str, LogicalId] = field(default_factory=dict)


def check_lookup(collection_name: str, lookup: object) -> None:
    """Refuse a ``lookup_from`` naming another collection, which the scope cannot constrain."""
    if lookup is None:
        return
    if not isinstance(lookup, models.LookupLocation):
        raise InvalidInputError("lookup_from must be a models.LookupLocation")
    if lookup.collection != collection_name:
        raise AccessDeniedError(
            "lookup_from reads vectors of another collection, which the scope cannot "
            "constrain; only the queried collection may be named"
        )


class QueryRewriter:
    """Validates and rewrites the queries of one caller (see the module docstring).

    Args:
        ids: the caller's point id translation.
        caller_filter: validates a caller's filter (a stage's ``filter``).
    """

    def __init__(self, ids: PointIds, caller_filter: Callable[[object], CallerFilter]) -> None:
        self._ids = ids
        self._caller_filter = caller_filter

    def prepare(
        self,
        space: VectorSpace,
        query: Any,
        using: str | None,
        prefetch: Any,
        query_filter: object,
        collection_name: str,
    ) -> PreparedQuery:
        """The query, its prefetch stages and its filter, checked and rewritten."""
        refs: dict[str, LogicalId] = {}
        rewritten = self._rewrite_query(space, query, using, refs)
        stages = self._prepare_prefetch(space, prefetch, refs, collection_name)
        return PreparedQuery(rewritten, stages, self._caller_filter(query_filter), refs)

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
        check_lookup(collection, stage.lookup_from)
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
