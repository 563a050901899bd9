"""Checks of Chroma-specific call arguments, made before anything is asked or written.

The tenancy-relevant checks (ids, metadatas, vectors, caller filters) live in
:mod:`sentinel_vectors.validation` and :class:`~sentinel_vectors.policy.TenancyPolicy`;
what is here turns Chroma's own argument forms (``include``, ``where_document``, string
or list columns) into typed errors instead of Chroma's ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sentinel_vectors.errors import FilterError, InvalidInputError

__all__ = [
    "as_seq",
    "as_str_list",
    "check_include",
    "check_offset",
    "check_where_document",
    "pick",
]

_DOCUMENT_OPS = frozenset({"$contains", "$not_contains", "$regex", "$not_regex"})


def check_where_document(where: object, *, depth: int = 0) -> None:
    """Refuse a malformed ``where_document`` with :class:`FilterError` before Chroma sees it.

    It only narrows a read or delete (Chroma ANDs it with ``where``); this is about a
    typed error instead of Chroma's ``ValueError``.
    """
    if where is None and depth == 0:
        return
    if not isinstance(where, Mapping) or len(where) != 1:
        raise FilterError(
            "where_document must be a dict with one operator ($contains, $not_contains, "
            f"$regex, $not_regex, $and, $or), got {where!r}"
        )
    ((op, value),) = where.items()
    if op in _DOCUMENT_OPS:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise FilterError(f"where_document {op} takes a non-empty string, got {value!r}")
    elif op in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise FilterError(f"where_document {op} takes a non-empty list of filters")
        for item in value:
            check_where_document(item, depth=depth + 1)
    else:
        raise FilterError(f"where_document has an unknown operator {op!r}")


def check_include(include: Sequence[str], *, allowed: frozenset[str]) -> tuple[str, ...]:
    """The ``include`` list, each field once, refusing what Chroma would not return."""
    if isinstance(include, str) or not isinstance(include, Sequence):
        raise InvalidInputError(f"include must be a list of field names, got {include!r}")
    for item in include:
        if item not in allowed:
            raise InvalidInputError(f"include may contain {sorted(allowed)}, got {item!r}")
    return tuple(dict.fromkeys(include))


def check_offset(offset: object) -> int | None:
    """A ``get`` offset: ``None`` or a non-negative integer."""
    if offset is not None and (
        isinstance(offset, bool) or not isinstance(offset, int) or offset < 0
    ):
        raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
    return offset


def as_str_list(value: Any, what: str) -> list[Any] | None:
    """One string or a list of strings (``documents``, ``uris``) as a list."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        raise InvalidInputError(f"{what} must be a string or a list of strings")
    for item in value:
        if not isinstance(item, str):
            raise InvalidInputError(f"{what} must be strings, got {type(item).__name__}")
    return list(value)


def as_seq(value: Any) -> Sequence[Any] | None:
    """A column passed through as given (``images``)."""
    return None if value is None else cast(Sequence[Any], value)


def pick(column: Sequence[Any] | None, keep: Sequence[int]) -> list[Any] | None:
    """The entries of ``column`` at positions ``keep`` (``None`` stays ``None``)."""
    return None if column is None else [column[i] for i in keep]
