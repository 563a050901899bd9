"""Compile the neutral filter algebra to a Qdrant ``models.Filter``.

Numbers are compared with a closed ``Range`` (``gte == lte == value``) rather than
``MatchValue``: the neutral algebra compares ``1`` and ``1.0`` as equal (as Python does),
and ``MatchValue`` takes no floats and never matches an integer against a stored float.
Booleans and strings use ``MatchValue`` / ``MatchAny``, which Qdrant keeps apart from
numbers, as the algebra does.

Missing keys follow :mod:`sentinel_vectors.filters`: ``eq``, ``in`` and ranges are
positive conditions (false on a point without the key); ``ne`` and ``not in`` compile to
``must_not`` of the positive condition, so they are true on such a point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qdrant_client import models

from sentinel_vectors.errors import FilterError, InvalidInputError
from sentinel_vectors.filters import Comparison, Filter, FilterCompiler, Membership, Scalar

__all__ = ["QdrantCondition", "QdrantFilterCompiler", "inspect_filter", "root_key"]

QdrantCondition = models.FieldCondition | models.Filter
"""What one compiled node is: a single field condition or a nested filter."""


class QdrantFilterCompiler(FilterCompiler[QdrantCondition]):
    """Neutral filter -> Qdrant condition; :meth:`to_filter` wraps the result in a ``Filter``."""

    def to_filter(self, node: Filter) -> models.Filter:
        """Compile ``node`` to a ``models.Filter`` (a bare condition is put under ``must``)."""
        compiled = self.compile(node)
        if isinstance(compiled, models.Filter):
            return compiled
        return models.Filter(must=[compiled])

    def comparison(self, node: Comparison) -> QdrantCondition:
        """``eq`` / ``ne`` / ranges on one key."""
        if node.op in ("eq", "ne"):
            positive = _equals(node.key, node.value)
            return positive if node.op == "eq" else models.Filter(must_not=[positive])
        value = node.value
        assert isinstance(value, int | float)
        bound = float(value)
        rng = {
            "gt": models.Range(gt=bound),
            "gte": models.Range(gte=bound),
            "lt": models.Range(lt=bound),
            "lte": models.Range(lte=bound),
        }[node.op]
        return models.FieldCondition(key=node.key, range=rng)

    def membership(self, node: Membership) -> QdrantCondition:
        """``in`` / ``not in``: ``MatchAny`` for strings, one condition per value otherwise."""
        positive: QdrantCondition
        if all(isinstance(v, str) for v in node.values):
            positive = models.FieldCondition(
                key=node.key,
                match=models.MatchAny(any=[str(v) for v in node.values]),
            )
        elif len(node.values) == 1:
            positive = _equals(node.key, node.values[0])
        else:
            positive = models.Filter(should=[_equals(node.key, v) for v in node.values])
        return models.Filter(must_not=[positive]) if node.negated else positive

    def and_(self, items: list[QdrantCondition]) -> QdrantCondition:
        """All of ``items`` under ``must``."""
        return models.Filter(must=list(items))

    def or_(self, items: list[QdrantCondition]) -> QdrantCondition:
        """Any of ``items`` under ``should``."""
        return models.Filter(should=list(items))


def _equals(key: str, value: Scalar) -> models.FieldCondition:
    if isinstance(value, bool | str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    number = float(value)
    return models.FieldCondition(key=key, range=models.Range(gte=number, lte=number))


# -- caller filters written against Qdrant -------------------------------------------

_FIELD_TESTS = (
    "match",
    "range",
    "geo_bounding_box",
    "geo_radius",
    "geo_polygon",
    "values_count",
    "is_empty",
    "is_null",
)
# Conditions that name no payload key and no point id: they pass through unchanged.
_KEYLESS_CONDITIONS = frozenset({"HasVectorCondition", "SliceCondition"})


def root_key(path: object) -> str:
    """The top-level payload key of a Qdrant JSON path (``a.b``, ``a[].b``, ``"a.b".c``)."""
    if not isinstance(path, str) or not path:
        raise FilterError(f"payload keys must be non-empty strings, got {path!r}")
    if path.startswith('"'):
        end = path.find('"', 1)
        if end < 0:
            raise FilterError(f"unterminated quote in payload key {path!r}")
        return path[1:end]
    for i, char in enumerate(path):
        if char in ".[":
            return path[:i]
    return path


def inspect_filter(
    flt: models.Filter, translate_id: Callable[[object], str]
) -> tuple[models.Filter, set[str]]:
    """Validate a caller's ``models.Filter``; return it with point ids translated, and its keys.

    ``translate_id`` maps a caller's point id (in a ``HasIdCondition``) to the stored one.
    The keys are the top-level payload keys the filter names outside ``nested`` filters
    (inside one, keys are relative to the nested array and cannot reach a tenancy key).
    Anything that is not a condition Qdrant knows raises :class:`FilterError`.
    """
    keys: set[str] = set()
    try:
        return _walk_filter(flt, translate_id, keys, nested=False), keys
    except FilterError:
        raise
    except (ValueError, TypeError) as exc:  # pydantic rebuilding a malformed model
        raise FilterError(f"malformed Qdrant filter: {exc}") from exc


def _walk_filter(
    flt: object, translate_id: Callable[[object], str], keys: set[str], *, nested: bool
) -> models.Filter:
    if not isinstance(flt, models.Filter):
        raise FilterError(
            f"a filter must be a qdrant_client.models.Filter, got {type(flt).__name__}"
        )
    update: dict[str, Any] = {}
    for part in ("must", "should", "must_not"):
        value = getattr(flt, part)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        update[part] = [_walk_condition(c, translate_id, keys, nested=nested) for c in items]
    if flt.min_should is not None:
        min_should = flt.min_should
        if not isinstance(min_should, models.MinShould):
            raise FilterError(f"min_should must be models.MinShould, got {min_should!r}")
        count = min_should.min_count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            # Qdrant refuses it too (local mode with a ValueError, a server with a 400).
            raise FilterError(f"min_should.min_count must be 1 or larger, got {count!r}")
        update["min_should"] = models.MinShould(
            conditions=[
                _walk_condition(c, translate_id, keys, nested=nested) for c in min_should.conditions
            ],
            min_count=min_should.min_count,
        )
    return models.Filter(**update)


def _walk_condition(
    cond: object, translate_id: Callable[[object], str], keys: set[str], *, nested: bool
) -> Any:
    if isinstance(cond, models.Filter):
        return _walk_filter(cond, translate_id, keys, nested=nested)
    if isinstance(cond, models.FieldCondition):
        key = root_key(cond.key)
        if not any(getattr(cond, test, None) is not None for test in _FIELD_TESTS):
            raise FilterError(
                f"the condition on {cond.key!r} tests nothing: set one of {', '.join(_FIELD_TESTS)}"
            )
        if not nested:
            keys.add(key)
        return cond
    if isinstance(cond, models.IsEmptyCondition):
        if not nested:
            keys.add(root_key(cond.is_empty.key))
        return cond
    if isinstance(cond, models.IsNullCondition):
        if not nested:
            keys.add(root_key(cond.is_null.key))
        return cond
    if isinstance(cond, models.NestedCondition):
        if not nested:
            keys.add(root_key(cond.nested.key))
        inner = _walk_filter(cond.nested.filter, translate_id, keys, nested=True)
        return models.NestedCondition(nested=models.Nested(key=cond.nested.key, filter=inner))
    if isinstance(cond, models.HasIdCondition):
        if nested:
            raise FilterError("has_id is not allowed inside a nested filter")
        try:
            return models.HasIdCondition(has_id=[translate_id(i) for i in cond.has_id])
        except FilterError:
            raise
        except InvalidInputError as exc:
            raise FilterError(str(exc)) from exc
    if type(cond).__name__ == "SliceCondition":
        total, index = cond.slice.total, cond.slice.index  # type: ignore[attr-defined]
        if not (isinstance(total, int) and isinstance(index, int) and 0 <= index < total):
            raise FilterError(f"a slice needs 0 <= index < total, got index {index}, total {total}")
    if type(cond).__name__ in _KEYLESS_CONDITIONS:
        return cond
    raise FilterError(f"unsupported filter condition: {cond!r}")
