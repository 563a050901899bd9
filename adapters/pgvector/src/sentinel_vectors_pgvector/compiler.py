"""Compile the neutral filter algebra to a SQLAlchemy boolean clause.

Keys that name a column (the tenancy columns ``workspace_id``, ``owner_id`` and the
resource key) compile to that column; every other key is a key of the JSONB
``metadata`` column. Values (and JSON keys) are always bound parameters; a membership
list is ONE array parameter, however long (``= ANY(:ids)``).

The missing-key and type rules of :mod:`sentinel_vectors.filters` hold exactly:

=============  ===============================================================
``eq``          ``metadata @> {"k": v}`` (JSON equality: 1 = 1.0, true != 1,
                "1" != 1; false on a missing key; GIN ``jsonb_path_ops`` serves it)
``ne``          ``NOT (metadata @> {"k": v})`` (true on a missing key)
``in``          ``jsonb_build_array(metadata -> k) <@ :values`` (one JSONB array)
``not in``      its negation (true on a missing key)
ranges          ``CASE WHEN jsonb_typeof(metadata -> k) = 'number'
                THEN (metadata -> k)::numeric > :v ELSE false END``
=============  ===============================================================

Negations are pushed to the leaves (:func:`sentinel_vectors.filters.negate`), so no SQL
``NOT`` ever wraps an expression that can be NULL. On a column, ``ne`` and ``not in``
read ``col IS NULL OR ...``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    false,
    func,
    not_,
    or_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from sentinel_vectors.errors import FilterError
from sentinel_vectors.filters import Comparison, FilterCompiler, Membership, Scalar

__all__ = ["SqlFilterCompiler"]

Clause = ColumnElement[bool]


class SqlFilterCompiler(FilterCompiler[Clause]):
    """Neutral filter -> SQLAlchemy clause over columns and a JSONB metadata column.

    Args:
        metadata: the JSONB column holding the caller's metadata (NOT NULL).
        columns: filter keys that are columns, by key (the tenancy columns).
    """

    def __init__(
        self,
        metadata: ColumnElement[Any],
        columns: Mapping[str, ColumnElement[Any]] | None = None,
    ) -> None:
        self._meta = metadata
        self._columns = dict(columns or {})

    # -- leaves ---------------------------------------------------------------------

    def comparison(self, node: Comparison) -> Clause:
        """One comparison, on a column or a JSONB key."""
        _check_finite(node.key, node.value)
        column = self._columns.get(node.key)
        if column is not None:
            return _column_comparison(column, node)
        if node.op in ("eq", "ne"):
            contains = self._contains(node.key, node.value)
            return contains if node.op == "eq" else not_(contains)
        value = self._meta[node.key]
        number = cast(value, Numeric)
        bound = bindparam(None, _decimal(node.value), type_=Numeric())
        compare = {
            "gt": number > bound,
            "gte": number >= bound,
            "lt": number < bound,
            "lte": number <= bound,
        }[node.op]
        return case((func.jsonb_typeof(value) == "number", compare), else_=false())

    def membership(self, node: Membership) -> Clause:
        """``in`` / ``not in``: one bound array, whatever its length."""
        column = self._columns.get(node.key)
        _check_nul(node.key)
        if column is not None and isinstance(column.type, Uuid) and _canonical_uuids(node.values):
            # Canonical UUID strings (the policy's accessible list): bound as one text[]
            # and cast by the server, instead of a uuid.UUID object per id in Python.
            ids = bindparam(None, list(node.values), type_=ARRAY(Text))
            found = column == any_(cast(ids, ARRAY(Uuid())))
            return or_(column.is_(None), not_(found)) if node.negated else found
        for value in node.values:
            _check_finite(node.key, value)
        if column is not None:
            values = [_column_value(column, node.key, v) for v in node.values]
            found = column == any_(bindparam(None, values, type_=ARRAY(column.type)))
            return or_(column.is_(None), not_(found)) if node.negated else found
        wrapped = func.jsonb_build_array(self._meta[node.key], type_=JSONB)
        found = wrapped.op("<@", return_type=Boolean)(
            bindparam(None, list(node.values), type_=JSONB)
        )
        return not_(found) if node.negated else found

    def uuid_membership(self, key: str, ids: Iterable[uuid.UUID]) -> Clause:
        """``key IN ids`` on a UUID column, the ids bound as one ``uuid[]`` as given.

        For the accessible list of a read plan (``ReadPlan.ids``): the SDK's ``UUID``
        objects go to the driver unconverted.
        """
        column = self._columns.get(key)
        if column is None or not isinstance(column.type, Uuid):
            raise FilterError(f"{key!r} is not a UUID column of this table")
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid())))

    # -- combinators ----------------------------------------------------------------

    def and_(self, items: list[Clause]) -> Clause:
        """``(a AND b ...)``."""
        return items[0] if len(items) == 1 else and_(*items)

    def or_(self, items: list[Clause]) -> Clause:
        """``(a OR b ...)``."""
        return items[0] if len(items) == 1 else or_(*items)

    # -- helpers --------------------------------------------------------------------

    def _contains(self, key: str, value: Scalar) -> Clause:
        return self._meta.op("@>", return_type=Boolean)(bindparam(None, {key: value}, type_=JSONB))


_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CANONICAL_UUIDS = re.compile(f"{_UUID}(?:,{_UUID})*")


def _canonical_uuids(values: tuple[Scalar, ...]) -> bool:
    """Whether every value is a canonical (lower-case, hyphenated) UUID string."""
    if set(map(type, values)) != {str} or set(map(len, values)) != {36}:  # type: ignore[arg-type]
        return False
    # Every value is 36 characters, so one C-speed match over the joined list checks each.
    return _CANONICAL_UUIDS.fullmatch(",".join(values)) is not None  # type: ignore[arg-type]


def _check_finite(key: str, value: Scalar) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"filter on {key!r}: {value!r} is not a finite number")
    _check_nul(key)
    if isinstance(value, str) and "\x00" in value:
        raise FilterError(f"filter on {key!r}: values may not contain NUL characters")


def _check_nul(key: str) -> None:
    # PostgreSQL text and JSONB cannot hold NUL: refuse it here, not as a DBAPIError.
    if "\x00" in key:
        raise FilterError(f"filter key {key!r} may not contain NUL characters")


def _decimal(value: Scalar) -> Decimal:
    # repr() keeps the shortest decimal that round-trips, so 0.1 stays 0.1 (as in JSON).
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


def _column_value(column: ColumnElement[Any], key: str, value: Scalar) -> Any:
    if isinstance(column.type, Uuid):
        if not isinstance(value, str):
            raise FilterError(f"filter on {key!r}: the column holds UUIDs, got {value!r}")
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise FilterError(f"filter on {key!r}: {value!r} is not a UUID") from exc
    return value


def _column_comparison(column: ColumnElement[Any], node: Comparison) -> Clause:
    value = bindparam(None, _column_value(column, node.key, node.value), type_=column.type)
    if node.op == "eq":
        return column == value
    if node.op == "ne":
        return or_(column.is_(None), column != value)
    if isinstance(column.type, Uuid):
        raise FilterError(f"filter on {node.key!r}: {node.op} does not apply to UUIDs")
    if node.op == "gt":
        return column > value
    if node.op == "gte":
        return column >= value
    if node.op == "lt":
        return column < value
    return column <= value
