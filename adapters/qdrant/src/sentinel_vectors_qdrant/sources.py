"""The engine's sources over Qdrant: a neutral filter in, native calls out, rows back.

:mod:`sentinel_vectors.engine.reads` plans and re-checks every read; these sources are the
Qdrant side of one call. Each compiles the plan's neutral filter, nests the caller's
native filter under it (it can only narrow), yields the native call and turns the points
into :class:`~sentinel_vectors.engine.Row` (``native``: the point itself, returned to the
caller once kept). One source per call: what it remembers (the score direction, the
scroll page's boundary) is that call's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qdrant_client import models
from qdrant_client.http.models import QueryResponse

from sentinel_vectors.access import Access
from sentinel_vectors.engine import ReadSettings, Row, Step
from sentinel_vectors.filters import Filter
from sentinel_vectors_qdrant.base import ID_BATCH, ClientBase
from sentinel_vectors_qdrant.filtering import nest, to_filter, with_ids

__all__ = ["PREFILTER", "QuerySource", "RetrieveSource", "ScrollSource", "settings_of"]

# One MatchAny binds any number of ids, so a Qdrant read is never chunked.
_NO_CHUNKS = 2**62

PREFILTER = ReadSettings(strategy="prefilter", max_ids_per_query=_NO_CHUNKS)
"""How every read but ``query_points`` is planned: one pre-filtered native call."""


def settings_of(ops: ClientBase) -> ReadSettings:
    """How ``query_points`` is planned: the client's strategy and post-filter threshold."""
    return ReadSettings(
        strategy=ops._strategy,
        max_ids_per_query=_NO_CHUNKS,
        postfilter_min_ids=ops._postfilter_min_ids,
        overfetch=ops._overfetch,
    )


@dataclass
class QuerySource:
    """``query_points`` under the plan's filter (a top-k source).

    Qdrant ranks best first; whether best is the highest score (cosine, dot, fusion) or
    the lowest (euclid, manhattan) is read off the candidates, and every row's distance
    follows (smaller is nearer for the engine).
    """

    ops: ClientBase
    collection: str
    native: dict[str, Any]
    caller: models.Filter | None
    sign: float = 1.0
    issued: list[Row] = field(default_factory=list)

    def search(
        self, flt: Filter, fetch: int, which: Sequence[int], ids: Access | None
    ) -> Step[list[list[Row]]]:
        """The ``fetch`` best points under ``flt`` (one query: ``which`` is ``[0]``)."""
        del which, ids  # one query per call; ids are always in the filter (one MatchAny)
        raw: QueryResponse = yield self.ops._native(
            "query_points",
            **self.native,
            query_filter=nest(to_filter(self.ops._compiler, flt), self.caller),
            limit=fetch,
        )
        points = raw.points
        if len(points) >= 2 and points[0].score != points[-1].score:
            sign = -1.0 if points[0].score > points[-1].score else 1.0
            if sign != self.sign:
                self.sign = sign
                for row in self.issued:  # rows of an earlier fetch rank the same way
                    row.distance = sign * row.native.score
        rows = self.ops._rows(points, self.collection)
        for row in rows:
            row.distance = self.sign * row.native.score
        self.issued.extend(rows)
        return [rows]


@dataclass
class ScrollSource:
    """One ``scroll`` page under the plan's filter (a listing source).

    Asks one point more than the page (unless ``order_by``, whose pages Qdrant does not
    continue by id): the first point past the page names the next page. It is a row like
    the others (the engine re-checks it too) and :meth:`split` sets it apart.
    """

    ops: ClientBase
    collection: str
    caller: models.Filter | None
    page: int
    native: dict[str, Any]
    ahead: set[str] = field(default_factory=set)

    def fetch(
        self, flt: Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        """The page's rows and the one after it (the engine's ``limit``/``offset``: unused)."""
        del ids, limit, offset
        extra = self.native.get("order_by") is None
        raw, _ = yield self.ops._native(
            "scroll",
            collection_name=self.collection,
            scroll_filter=nest(to_filter(self.ops._compiler, flt), self.caller),
            limit=self.page + 1 if extra else self.page,
            **self.native,
        )
        self.ahead = {str(point.id) for point in raw[self.page :]}
        return self.ops._rows(raw, self.collection)

    def split(self, rows: list[Row]) -> tuple[list[Row], Row | None]:
        """The kept rows of the page, and the kept row past it (``None``: last page)."""
        page = [row for row in rows if row.pid not in self.ahead]
        past = [row for row in rows if row.pid in self.ahead]
        return page, past[0] if past else None


@dataclass
class RetrieveSource:
    """Named points (stored ids) under the plan's filter (a listing source)."""

    ops: ClientBase
    collection: str
    wanted: list[str]
    native: dict[str, Any]

    def fetch(
        self, flt: Filter, ids: Access | None, *, limit: int | None, offset: int | None
    ) -> Step[list[Row]]:
        """The wanted points that match ``flt``, ``ID_BATCH`` ids per native call."""
        del ids, limit, offset
        scoped = to_filter(self.ops._compiler, flt)
        out: list[Row] = []
        for start in range(0, len(self.wanted), ID_BATCH):
            chunk = self.wanted[start : start + ID_BATCH]
            raw, _ = yield self.ops._native(
                "scroll",
                collection_name=self.collection,
                scroll_filter=with_ids(scoped, chunk),
                limit=len(chunk),
                **self.native,
            )
            out.extend(self.ops._rows(raw, self.collection))
        return out
