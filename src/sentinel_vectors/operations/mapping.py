"""Backfill mappings: from a legacy record to its stamp (workspace, owner, resource).

Two kinds, both a :data:`Mapper` (``StoredRecord -> Stamp | None``):

- :class:`FieldMapping`: each part from a metadata field of the record, or a constant
  (``workspace=FieldSource(field="tenant")``, ``owner=FieldSource(value=...)``);
- :func:`load_mapper`: a ``module:function`` of yours, called with the
  :class:`~sentinel_vectors.operations.StoredRecord`; it returns a
  :class:`~sentinel_vectors.operations.Stamp`, a ``(workspace, owner, resource)`` tuple,
  a dict with those keys (``workspace_id``, ``owner_id``, ``resource_id``), or ``None``
  to leave the record as it is.

A mapper that raises :class:`~sentinel_vectors.operations.errors.MappingError` (or
``ValueError``) for one record leaves that record alone and counts it as unmapped; any
other exception stops the run (resume it from the checkpoint).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.errors import MappingError
from sentinel_vectors.operations.stamps import Stamp
from sentinel_vectors.operations.store import StoredRecord

__all__ = ["FieldMapping", "FieldSource", "Mapper", "as_stamp", "load_mapper"]

Mapper = Callable[[StoredRecord], Any]
"""A record's stamp (anything :func:`as_stamp` takes), or ``None`` to skip the record."""


@dataclass(frozen=True)
class FieldSource:
    """One part of a stamp: a metadata field's value, or a constant ``value``."""

    field: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if (self.field is None) == (self.value is None):
            raise MappingError("give exactly one of a metadata field or a constant value")

    def read(self, record: StoredRecord) -> object:
        """The value for ``record`` (``None`` if the field is absent)."""
        if self.value is not None:
            return self.value
        return record.metadata.get(str(self.field))

    def describe(self) -> str:
        """``field:tenant`` or ``value:<uuid>``."""
        return f"field:{self.field}" if self.field is not None else f"value:{self.value}"


@dataclass(frozen=True)
class FieldMapping:
    """A stamp from metadata fields (or constants), one per part."""

    workspace: FieldSource
    owner: FieldSource
    resource: FieldSource

    def __call__(self, record: StoredRecord) -> Stamp | None:
        """The record's stamp; ``None`` when a field is missing; :class:`MappingError` when
        a value is not a UUID."""
        values = (self.workspace.read(record), self.owner.read(record), self.resource.read(record))
        if any(v is None for v in values):
            return None
        return as_stamp(values)

    def describe(self) -> str:
        """A stable description, stored in the checkpoint."""
        return (
            f"workspace={self.workspace.describe()} owner={self.owner.describe()} "
            f"resource={self.resource.describe()}"
        )


def as_stamp(value: object) -> Stamp | None:
    """A mapper's answer as a :class:`Stamp` (``None`` stays ``None``); :class:`MappingError`
    for anything else."""
    if value is None or isinstance(value, Stamp):
        return value
    try:
        if isinstance(value, Mapping):
            return Stamp.of(value["workspace_id"], value["owner_id"], value["resource_id"])
        if isinstance(value, tuple | list) and len(value) == 3:
            return Stamp.of(*value)
    except KeyError as exc:
        raise MappingError(f"the mapping's answer has no {exc.args[0]!r}") from exc
    except InvalidInputError as exc:
        raise MappingError(f"the mapping's answer is not usable: {exc}") from exc
    raise MappingError(
        f"a mapping returns a Stamp, a (workspace, owner, resource) tuple, a dict or None; "
        f"got {type(value).__name__}"
    )


def load_mapper(spec: str) -> Mapper:
    """Import ``module:function``; :class:`MappingError` says what is wrong with it."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise MappingError(
            f"mapping {spec!r} must be 'module:function', e.g. 'myapp.tenancy:stamp'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MappingError(
            f"mapping {spec!r}: module {module_name!r} cannot be imported ({exc})"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise MappingError(f"mapping {spec!r}: {module_name!r} has no {attr!r}")
    if not callable(target):
        raise MappingError(f"mapping {spec!r}: {attr!r} is not callable")
    return target  # type: ignore[no-any-return]
