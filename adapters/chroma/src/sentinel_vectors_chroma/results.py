"""Chroma's result shapes: columnar ``GetResult``/``QueryResult`` to rows and back.

Chroma answers in columns (``{"ids": [...], "metadatas": [...], ...}``, one list per
query for ``query``); the engine's workflows see one
:class:`~sentinel_vectors.engine.effects.Row` per record. A row keeps the record's
native dict (``{"ids": pid, "metadatas": ..., "documents": ..., ...}``) in
:attr:`Row.native <sentinel_vectors.engine.effects.Row.native>`, and the facade puts the
admitted rows back into Chroma's columns with the caller's ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sentinel_vectors.engine import Row

__all__ = [
    "DEFAULT_GET_INCLUDE",
    "DEFAULT_QUERY_INCLUDE",
    "GET_FIELDS",
    "INCLUDABLE",
    "QUERY_FIELDS",
    "Result",
    "ScopedQueryResult",
    "get_result",
    "query_result",
    "rows_of",
]

Result = dict[str, Any]

GET_FIELDS = ("ids", "embeddings", "documents", "uris", "data", "metadatas")
QUERY_FIELDS = (*GET_FIELDS, "distances")
INCLUDABLE = frozenset({"embeddings", "documents", "uris", "data", "metadatas", "distances"})
DEFAULT_GET_INCLUDE = ("metadatas", "documents")
DEFAULT_QUERY_INCLUDE = ("metadatas", "documents", "distances")


class ScopedQueryResult(dict[str, Any]):
    """Chroma's ``QueryResult`` dict, plus the read's :attr:`complete` flag.

    The keys are exactly Chroma's; ``complete`` is an attribute (not a key), so code
    written against the native result is unaffected. It is ``False`` only when a forced
    ``postfilter`` read could not fill ``n_results`` for some query within its over-fetch
    (see :mod:`sentinel_vectors.strategy`): hits the caller may see may be missing.
    """

    complete: bool = True


def rows_of(raw: Mapping[str, Any], *, query: int | None = None) -> list[Row]:
    """Chroma's columnar answer -> one :class:`Row` per record, in Chroma's order.

    ``query``: which query's columns of a batched ``QueryResult`` (``None``: a
    ``GetResult``). The row's ``meta`` is its stored metadata (``{}`` when Chroma has
    none), ``distance`` Chroma's distance (0 for a ``get``).
    """
    fields = GET_FIELDS if query is None else QUERY_FIELDS
    ids = raw["ids"] if query is None else raw["ids"][query]
    natives: list[dict[str, Any]] = [{"ids": pid} for pid in ids]
    for name in fields:
        column = raw.get(name)
        if name == "ids" or column is None:
            continue
        if query is not None:
            column = column[query]
        for native, value in zip(natives, column, strict=True):
            native[name] = value
    return [
        Row(
            native["ids"],
            native.get("metadatas") or {},
            float(native.get("distances", 0.0)),
            native,
        )
        for native in natives
    ]


def get_result(rows: Sequence[Row], wanted: Sequence[str], logical: Callable[[str], str]) -> Result:
    """A ``GetResult`` of admitted rows: the fields in ``wanted``, the caller's ids."""
    out: Result = {"included": list(wanted)}
    for name in GET_FIELDS:
        if name == "ids":
            out[name] = [logical(row.pid) for row in rows]
        elif name in wanted:
            out[name] = [row.native.get(name) for row in rows]
        else:
            out[name] = None
    return out


def query_result(
    hits: Sequence[Sequence[Row]],
    wanted: Sequence[str],
    logical: Callable[[str], str],
    *,
    complete: bool = True,
) -> ScopedQueryResult:
    """A ``QueryResult`` of admitted rows per query: ``wanted`` fields, the caller's ids."""
    out = ScopedQueryResult(included=list(wanted))
    for name in QUERY_FIELDS:
        if name == "ids":
            out[name] = [[logical(row.pid) for row in rows] for rows in hits]
        elif name in wanted:
            out[name] = [[row.native.get(name) for row in rows] for rows in hits]
        else:
            out[name] = None
    out.complete = complete
    return out
