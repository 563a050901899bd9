"""A neutral metadata filter algebra, compiled by each adapter to its native form.

Build filters with the constructors::

    from sentinel_vectors import filters as F

    f = F.and_(F.eq("topic", "billing"), F.gte("year", 2024), F.not_(F.in_("lang", ["de"])))

or parse a Chroma/Mongo-style ``where`` dict with :func:`parse_where`, so code written
against a native client keeps its filters::

    f = F.parse_where({"$and": [{"topic": "billing"}, {"year": {"$gte": 2024}}]})

Every node is an immutable, validated dataclass. Adapters implement
:class:`FilterCompiler` to turn a node into a Chroma ``where``, a Qdrant
``models.Filter`` or a SQLAlchemy clause.

Missing keys: ``eq``, ``in_`` and the range comparisons are false on a record that
lacks the key; ``ne`` and ``not_in`` are true there (as in Chroma and Qdrant; the
pgvector compiler matches it). ``not_`` is pushed down to the leaves, so the negation
of a range comparison is the opposite range, false on a missing key as well.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeGuard

from sentinel_vectors.errors import FilterError

__all__ = [
    "And",
    "CompareOp",
    "Comparison",
    "Filter",
    "FilterCompiler",
    "Membership",
    "Not",
    "Or",
    "Scalar",
    "and_",
    "as_filter",
    "eq",
    "filter_keys",
    "gt",
    "gte",
    "in_",
    "lt",
    "lte",
    "matches",
    "ne",
    "negate",
    "not_",
    "not_in",
    "or_",
    "parse_where",
]

Scalar = str | int | float | bool
"""A value a filter may compare against."""

CompareOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
"""A binary comparison operator."""

_RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
_NEGATED: dict[CompareOp, CompareOp] = {
    "eq": "ne",
    "ne": "eq",
    "gt": "lte",
    "gte": "lt",
    "lt": "gte",
    "lte": "gt",
}


def _is_scalar(value: object) -> TypeGuard[Scalar]:
    return isinstance(value, str | int | float | bool)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise FilterError(f"filter keys must be non-empty strings, got {key!r}")
    if key.startswith("$"):
        raise FilterError(f"{key!r} is an operator, not a metadata key")
    return key


@dataclass(frozen=True, slots=True)
class Comparison:
    """``key <op> value`` for one metadata key."""

    key: str
    op: CompareOp
    value: Scalar

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.op not in _NEGATED:
            raise FilterError(f"unknown comparison operator {self.op!r}")
        if not _is_scalar(self.value):
            raise FilterError(
                f"filter on {self.key!r}: value must be str, int, float or bool, "
                f"got {type(self.value).__name__}"
            )
        if self.op in _RANGE_OPS and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise FilterError(
                f"filter on {self.key!r}: {self.op} needs a number, got {self.value!r}"
            )


@dataclass(frozen=True, slots=True)
class Membership:
    """``key IN values`` (or ``NOT IN`` when ``negated``)."""

    key: str
    values: tuple[Scalar, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not self.values:
            raise FilterError(f"filter on {self.key!r}: an 'in' list may not be empty")
        if set(map(type, self.values)) == {str}:
            return  # the common case (resource ids), checked at C speed
        kinds = set()
        for value in self.values:
            if not _is_scalar(value):
                raise FilterError(
                    f"filter on {self.key!r}: list values must be str, int, float or bool, "
                    f"got {type(value).__name__}"
                )
            kinds.add(
                "str" if isinstance(value, str) else "bool" if isinstance(value, bool) else "num"
            )
        if len(kinds) > 1:
            raise FilterError(f"filter on {self.key!r}: list values must share one type")


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_items("and", self.items)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_items("or", self.items)


@dataclass(frozen=True, slots=True)
class Not:
    """``item`` does not hold."""

    item: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.item, _NODE_TYPES):
            raise FilterError(f"not_() takes a filter, got {type(self.item).__name__}")


Filter = Comparison | Membership | And | Or | Not
"""Any node of the filter algebra."""

_NODE_TYPES = (Comparison, Membership, And, Or, Not)


def _check_items(name: str, items: tuple[Filter, ...]) -> None:
    if not items:
        raise FilterError(f"{name}_() needs at least one filter")
    for item in items:
        if not isinstance(item, _NODE_TYPES):
            raise FilterError(f"{name}_() takes filters, got {type(item).__name__}")


# -- constructors -------------------------------------------------------------------


def eq(key: str, value: Scalar) -> Comparison:
    """``key == value``."""
    return Comparison(key, "eq", value)


def ne(key: str, value: Scalar) -> Comparison:
    """``key != value``."""
    return Comparison(key, "ne", value)


def gt(key: str, value: int | float) -> Comparison:
    """``key > value``."""
    return Comparison(key, "gt", value)


def gte(key: str, value: int | float) -> Comparison:
    """``key >= value``."""
    return Comparison(key, "gte", value)


def lt(key: str, value: int | float) -> Comparison:
    """``key < value``."""
    return Comparison(key, "lt", value)


def lte(key: str, value: int | float) -> Comparison:
    """``key <= value``."""
    return Comparison(key, "lte", value)


def in_(key: str, values: Iterable[Scalar]) -> Membership:
    """``key`` is one of ``values``."""
    return Membership(key, _as_tuple(key, values))


def not_in(key: str, values: Iterable[Scalar]) -> Membership:
    """``key`` is none of ``values``."""
    return Membership(key, _as_tuple(key, values), negated=True)


def and_(*items: Filter) -> Filter:
    """All of ``items``; a single item is returned as is."""
    return items[0] if len(items) == 1 else And(tuple(items))


def or_(*items: Filter) -> Filter:
    """Any of ``items``; a single item is returned as is."""
    return items[0] if len(items) == 1 else Or(tuple(items))


def not_(item: Filter) -> Not:
    """The negation of ``item``."""
    return Not(item)


def _as_tuple(key: str, values: Iterable[Scalar]) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise FilterError(f"filter on {key!r}: 'in' takes a list of values, got {values!r}")
    return tuple(values)


# -- inspection ---------------------------------------------------------------------


def filter_keys(node: Filter) -> set[str]:
    """Every metadata key a filter mentions."""
    if isinstance(node, Comparison | Membership):
        return {node.key}
    if isinstance(node, Not):
        return filter_keys(node.item)
    keys: set[str] = set()
    for item in node.items:
        keys |= filter_keys(item)
    return keys


def negate(node: Filter) -> Filter:
    """Push a negation down to the leaves (De Morgan), for backends without ``NOT``."""
    if isinstance(node, Comparison):
        return Comparison(node.key, _NEGATED[node.op], node.value)
    if isinstance(node, Membership):
        return Membership(node.key, node.values, negated=not node.negated)
    if isinstance(node, Not):
        return node.item
    if isinstance(node, And):
        return Or(tuple(negate(item) for item in node.items))
    return And(tuple(negate(item) for item in node.items))


def matches(node: Filter, metadata: Mapping[str, object]) -> bool:
    """Evaluate a filter against one record's metadata in Python.

    Follows the missing-key rules in the module docstring, which every adapter's
    compiler reproduces; the leak harness uses it as its oracle.
    """
    if isinstance(node, Comparison):
        if node.key not in metadata:
            return node.op == "ne"
        return _compare(metadata[node.key], node.op, node.value)
    if isinstance(node, Membership):
        if node.key not in metadata:
            return node.negated
        found = any(_compare(metadata[node.key], "eq", v) for v in node.values)
        return found != node.negated
    if isinstance(node, Not):
        return matches(negate(node.item), metadata)
    if isinstance(node, And):
        return all(matches(item, metadata) for item in node.items)
    return any(matches(item, metadata) for item in node.items)


def _compare(actual: object, op: CompareOp, expected: Scalar) -> bool:
    # bool is an int in Python but a distinct type in every store we compile to.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return op == "ne"
    if op in ("eq", "ne"):
        return (actual == expected) == (op == "eq")
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    assert isinstance(expected, int | float)
    if op == "gt":
        return actual > expected
    if op == "gte":
        return actual >= expected
    if op == "lt":
        return actual < expected
    return actual <= expected


# -- Chroma/Mongo-style where dicts -------------------------------------------------

_WHERE_OPS: dict[str, CompareOp] = {
    "$eq": "eq",
    "$ne": "ne",
    "$gt": "gt",
    "$gte": "gte",
    "$lt": "lt",
    "$lte": "lte",
}
_SUPPORTED = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $and, $or, $not"


def parse_where(where: Mapping[str, object]) -> Filter:
    """Parse a Chroma-style ``where`` dict into the filter algebra.

    Accepts ``{"key": value}``, ``{"key": {"$op": value}}`` with ``$eq $ne $gt $gte
    $lt $lte $in $nin``, ``{"$and": [...]}``, ``{"$or": [...]}`` and ``{"$not": {...}}``.
    Several keys in one dict are ANDed. Anything else raises :class:`FilterError`.
    """
    if not isinstance(where, Mapping):
        raise FilterError(f"a where filter must be a dict, got {type(where).__name__}")
    if not where:
        raise FilterError("a where filter may not be empty; pass None for no filter")
    parts: list[Filter] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters")
            items = tuple(parse_where(_expect_dict(key, item)) for item in value)
            parts.append(and_(*items) if key == "$and" else or_(*items))
        elif key == "$not":
            parts.append(Not(parse_where(_expect_dict(key, value))))
        elif isinstance(key, str) and key.startswith("$"):
            raise FilterError(f"unknown operator {key!r}; supported: {_SUPPORTED}")
        else:
            parts.append(_parse_field(key, value))
    return and_(*parts)


def as_filter(where: object) -> Filter | None:
    """A caller's filter argument as a neutral node (``None``: no filter).

    Takes a node of this algebra or a Chroma-style ``where`` dict; anything else (a
    list, a string, ...) raises :class:`FilterError` before any store is asked.
    """
    if where is None or isinstance(where, Comparison | Membership | And | Or | Not):
        return where
    if isinstance(where, Mapping):
        return parse_where(where)
    raise FilterError(
        f"a filter must be a dict (a Chroma-style where) or a sentinel_vectors.filters node, "
        f"got {type(where).__name__}"
    )


def _expect_dict(op: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise FilterError(f"{op} takes filter dicts, got {value!r}")
    return value


def _parse_field(key: str, spec: object) -> Filter:
    if not isinstance(spec, Mapping):
        if not _is_scalar(spec):
            raise FilterError(f"filter on {key!r}: unsupported value {spec!r}")
        return eq(key, spec)
    if not spec:
        raise FilterError(f"filter on {key!r}: empty operator dict")
    parts: list[Filter] = []
    for op, value in spec.items():
        if op in _WHERE_OPS:
            if not _is_scalar(value):
                raise FilterError(f"filter on {key!r}: {op} takes a scalar, got {value!r}")
            parts.append(Comparison(key, _WHERE_OPS[op], value))
        elif op in ("$in", "$nin"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise FilterError(f"filter on {key!r}: {op} takes a list, got {value!r}")
            parts.append(Membership(key, tuple(value), negated=op == "$nin"))
        else:
            raise FilterError(
                f"filter on {key!r}: unknown operator {op!r}; supported: {_SUPPORTED}"
            )
    return and_(*parts)


# -- compilation --------------------------------------------------------------------


class FilterCompiler[T](abc.ABC):
    """Turns a validated filter into a backend's native filter of type ``T``.

    Adapters implement one method per node type; :meth:`compile` dispatches.
    """

    def compile(self, node: Filter) -> T:
        """Compile ``node`` (and its children) to the native form."""
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Membership):
            return self.membership(node)
        if isinstance(node, And):
            return self.and_([self.compile(item) for item in node.items])
        if isinstance(node, Or):
            return self.or_([self.compile(item) for item in node.items])
        if isinstance(node, Not):
            return self.not_(node.item)
        raise FilterError(f"not a filter: {node!r}")

    @abc.abstractmethod
    def comparison(self, node: Comparison) -> T:
        """Compile one comparison."""

    @abc.abstractmethod
    def membership(self, node: Membership) -> T:
        """Compile an ``in`` / ``not in``."""

    @abc.abstractmethod
    def and_(self, items: list[T]) -> T:
        """Combine compiled children with AND."""

    @abc.abstractmethod
    def or_(self, items: list[T]) -> T:
        """Combine compiled children with OR."""

    def not_(self, item: Filter) -> T:
        """Compile a negation; by default by pushing it to the leaves."""
        return self.compile(negate(item))
