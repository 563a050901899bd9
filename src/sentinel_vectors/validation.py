"""Argument checks shared by every adapter, run before anything reaches a store."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sentinel_vectors.errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "as_embeddings",
    "as_id_list",
    "as_metadata_list",
    "check_lengths",
    "check_positive_int",
    "refuse_existing_ids",
]


def as_id_list(ids: object, *, what: str = "ids", allow_empty: bool = False) -> list[str]:
    """Normalise one id or a list of ids to a list of unique, non-empty strings."""
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, Sequence):
        raise InvalidInputError(f"{what} must be a string or a list of strings, got {ids!r}")
    out: list[str] = []
    for item in ids:
        if not isinstance(item, str):
            raise InvalidInputError(
                f"{what} must be strings; got {type(item).__name__} {item!r}. "
                f"Convert ids with str() before passing them."
            )
        if not item:
            raise InvalidInputError(f"{what} may not contain an empty string")
        if "\x00" in item or (not item.isprintable() and not _storable(item)):
            raise InvalidInputError(
                f"{what} may not contain NUL characters or unpaired surrogates (no backend "
                f"stores them the same way), got {item!r}"
            )
        out.append(item)
    if not out and not allow_empty:
        raise InvalidInputError(f"{what} may not be empty")
    if len(set(out)) != len(out):
        dupes = sorted(i for i, count in Counter(out).items() if count > 1)
        raise InvalidInputError(f"{what} must be unique; repeated: {dupes[:5]}")
    return out


def _storable(item: str) -> bool:
    """Whether a string is valid Unicode text every backend can store (UTF-8 encodable)."""
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_lengths(n: int, **columns: Sequence[Any] | None) -> None:
    """Require every given column to have exactly ``n`` entries, one per id."""
    for name, column in columns.items():
        if column is not None and len(column) != n:
            raise InvalidInputError(f"got {n} ids but {len(column)} {name}; pass one entry per id")


def as_metadata_list(
    metadatas: object, n: int, *, required: bool
) -> list[Mapping[str, Any]] | None:
    """Normalise metadatas (one dict or a list of dicts) and check there is one per id."""
    if metadatas is None:
        if required:
            raise InvalidInputError(
                "metadatas are required: every record must name its resource in its metadata"
            )
        return None
    if isinstance(metadatas, Mapping):
        metadatas = [metadatas]
    if not isinstance(metadatas, Sequence) or isinstance(metadatas, str):
        raise InvalidInputError(
            f"metadatas must be a list of dicts, got {type(metadatas).__name__}"
        )
    out: list[Mapping[str, Any]] = []
    for i, meta in enumerate(metadatas):
        if meta is None and not required:
            out.append({})
            continue
        if not isinstance(meta, Mapping):
            raise InvalidInputError(f"metadatas[{i}] must be a dict, got {type(meta).__name__}")
        for key in meta:
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"metadatas[{i}] has a key that is not a string: {key!r}")
        out.append(meta)
    check_lengths(n, metadatas=out)
    return out


def as_embeddings(
    embeddings: object, *, n: int | None, dimension: int | None, what: str = "embeddings"
) -> list[list[float]]:
    """Normalise embeddings (lists or numpy arrays) to lists of floats of one dimension.

    ``dimension`` is the collection's, when known; every vector must match it and each
    other. ``n`` is the number of ids the embeddings belong to, when there are ids.
    """
    if embeddings is None:
        raise InvalidInputError(f"{what} are required: this suite never embeds implicitly")
    rows = embeddings.tolist() if hasattr(embeddings, "tolist") else embeddings
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
        raise InvalidInputError(f"{what} must be a non-empty list of vectors")
    if _is_bare_vector(rows):
        rows = [rows]  # one vector given bare
    out: list[list[float]] = []
    for i, row in enumerate(rows):
        vec = row.tolist() if hasattr(row, "tolist") else row
        if not isinstance(vec, Sequence) or isinstance(vec, str) or not vec:
            raise InvalidInputError(f"{what}[{i}] must be a non-empty list of numbers")
        floats = _finite_floats(vec)
        if floats is None:
            floats = []
            for x in vec:
                if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                    raise InvalidInputError(
                        f"{what}[{i}] holds {x!r}; vectors must be finite numbers"
                    )
                floats.append(float(x))
        expected = dimension if dimension is not None else (len(out[0]) if out else None)
        if expected is not None and len(floats) != expected:
            raise DimensionMismatchError(
                f"{what}[{i}] has dimension {len(floats)} but the collection expects {expected}; "
                f"use the same embedding model for every write and query"
            )
        out.append(floats)
    if n is not None:
        check_lengths(n, **{what: out})
    return out


def _is_bare_vector(rows: Sequence[Any]) -> bool:
    """Whether ``rows`` is one vector of numbers rather than a list of vectors.

    The common case (a query's ``ndarray.tolist()``: plain floats) is told at C speed;
    anything else is checked item by item, stopping at the first that is not a number.
    """
    if set(map(type, rows)) <= {float, int}:
        return True
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in rows)


def _finite_floats(vec: Sequence[Any]) -> list[float] | None:
    """The common case at C speed: all plain finite floats (``ndarray.tolist()`` rows).

    ``None`` sends the row to the per-element check (other types, or a sum that is not
    finite: a NaN or infinity inside, or an overflow, told apart there).
    """
    if set(map(type, vec)) != {float}:
        return None
    try:
        total = math.fsum(vec)
    except (OverflowError, ValueError):  # overflow, or inf + -inf
        return None
    return list(vec) if math.isfinite(total) else None


def check_positive_int(value: object, *, what: str) -> int:
    """Require a positive ``int`` (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {value!r}")
    return value


def refuse_existing_ids(existing: Sequence[str]) -> None:
    """Refuse an ``add`` that names ids already stored in the caller's workspace.

    ``add`` never replaces: a store whose native ``add`` would skip or overwrite such ids
    silently (Chroma skips them) refuses them here instead, as pgvector's primary key
    does. The message is the same whoever the existing records belong to.
    """
    if existing:
        raise InvalidInputError(
            f"ids already exist in the workspace: {sorted(existing)[:5]}; use upsert() to "
            f"replace them. Nothing was written."
        )
