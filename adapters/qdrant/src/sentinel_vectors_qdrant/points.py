"""Point ids, vectors and payload selectors: the checks run before anything reaches Qdrant.

- :class:`PointIds` maps a caller's point id (an unsigned integer or a UUID) to the id
  stored in Qdrant: ``uuid5`` of the workspace-namespaced id from
  :meth:`~sentinel_vectors.policy.TenancyPolicy.physical_id`. The caller's id is kept in
  the payload under :data:`ID_KEY` and returned exactly as written.
- :class:`VectorSpace` is a collection's vector configuration; it validates dense,
  multi- and sparse vectors by name and size.
- :class:`PayloadView` widens a caller's ``with_payload`` by the keys the re-check needs
  and narrows the returned payload back to what the caller asked for.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from sentinel_vectors.errors import DimensionMismatchError, InvalidInputError, ReservedKeyError
from sentinel_vectors.scope import WORKSPACE_KEY
from sentinel_vectors_qdrant.compiler import root_key

__all__ = ["ID_KEY", "MAX_INT_ID", "PayloadView", "PointIds", "VectorSpace", "check_payload"]

ID_KEY = "sentinel_point_id"
"""Payload key holding the caller's own point id (the stored id is namespaced)."""

MAX_INT_ID = 2**63 - 1
"""Largest integer point id: Qdrant ids go to 2**64-1, but payload integers are int64."""

# Fixed namespace of the stored ids; changing it would orphan every stored point.
_NAMESPACE = uuid.UUID("6b2f7c1e-5d0a-4f43-9a57-3c1c8e0d2f11")

LogicalId = int | str
"""A caller's point id as written: an unsigned integer or a UUID string."""


class PointIds:
    """Translates caller point ids to the workspace's stored ids and back."""

    def __init__(self, namespaced: Callable[[str], str]) -> None:
        self._namespaced = namespaced

    @staticmethod
    def logical(value: object, *, what: str = "point id") -> tuple[LogicalId, str]:
        """``(id as stored in the payload, canonical text)`` of a caller's point id.

        Qdrant allows unsigned integers and UUIDs (``str`` or ``uuid.UUID``); the wrapper
        also takes chunk ids ``"<resource uuid>:<index>"`` (stored under a UUID derived
        from them, like every id). Anything else raises :class:`InvalidInputError`.
        """
        if isinstance(value, bool):
            raise InvalidInputError(f"{what} must be an unsigned integer or a UUID, got {value!r}")
        if isinstance(value, int):
            if not 0 <= value <= MAX_INT_ID:
                raise InvalidInputError(
                    f"{what} {value} is out of range: integer ids must be in 0..{MAX_INT_ID}"
                )
            return value, str(value)
        if isinstance(value, uuid.UUID):
            return str(value), str(value)
        if isinstance(value, str):
            try:
                return value, str(uuid.UUID(value))
            except ValueError:
                pass
            head, sep, tail = value.partition(":")
            if sep and len(head) == 36 and tail.isascii() and tail.isdigit():
                # A chunk id "<resource uuid>:<index>" (sentinel_vectors.index.chunk_id).
                try:
                    return value, f"{uuid.UUID(head)}:{int(tail)}"
                except ValueError:
                    pass
        raise InvalidInputError(
            f"{what} must be an unsigned integer, a UUID or a chunk id '<uuid>:<index>', "
            f"got {type(value).__name__} {value!r}"
        )

    def physical(self, value: object, *, what: str = "point id") -> str:
        """The stored id of a caller's point id."""
        _, canonical = self.logical(value, what=what)
        return str(uuid.uuid5(_NAMESPACE, self._namespaced(canonical)))

    def matches(self, logical: object, physical: object) -> bool:
        """Whether a stored point's payload id really maps to its stored id."""
        try:
            return self.physical(logical) == str(physical)
        except InvalidInputError:
            return False


@dataclass(frozen=True, slots=True)
class _Dense:
    size: int
    multi: bool


@dataclass(frozen=True)
class VectorSpace:
    """The vectors a collection stores: dense (by name, ``""`` if unnamed) and sparse."""

    dense: Mapping[str, _Dense]
    sparse: frozenset[str]

    @classmethod
    def of(cls, info: models.CollectionInfo) -> VectorSpace:
        """Read the vector configuration of ``get_collection()``."""
        params = info.config.params
        vectors = params.vectors
        dense: dict[str, _Dense] = {}
        if isinstance(vectors, models.VectorParams):
            dense[""] = _Dense(vectors.size, vectors.multivector_config is not None)
        elif isinstance(vectors, Mapping):
            for name, vp in vectors.items():
                dense[name] = _Dense(vp.size, vp.multivector_config is not None)
        sparse = frozenset((params.sparse_vectors or {}).keys())
        return cls(dense=dense, sparse=sparse)

    @property
    def names(self) -> list[str]:
        """Every vector name (``""`` is the unnamed vector)."""
        return sorted({*self.dense, *self.sparse})

    def check_name(self, name: str | None, *, what: str) -> str:
        """The vector name ``using`` a query refers to, or :class:`InvalidInputError`."""
        resolved = "" if name is None else name
        if resolved not in self.dense and resolved not in self.sparse:
            raise InvalidInputError(
                f"{what}: the collection has no vector named {resolved!r}; it has "
                f"{self.names or 'none'}"
            )
        return resolved

    def point_vector(self, vector: object, *, what: str) -> Any:
        """Validate a point's vector (unnamed list or ``{name: vector}``); return it normalised."""
        if isinstance(vector, Mapping):
            out: dict[str, Any] = {}
            for name, value in vector.items():
                if not isinstance(name, str):
                    raise InvalidInputError(f"{what}: vector names must be strings, got {name!r}")
                out[name] = self.vector(name, value, what=f"{what}[{name!r}]")
            return out
        if "" not in self.dense:
            raise InvalidInputError(
                f"{what}: the collection has only named vectors {self.names}; pass {{name: vector}}"
            )
        return self.vector("", vector, what=what)

    def vector(self, name: str, value: object, *, what: str) -> Any:
        """Validate one vector of a known name (dense, multi or sparse)."""
        if name in self.sparse:
            return _sparse(value, what=what)
        spec = self.dense.get(name)
        if spec is None:
            raise InvalidInputError(
                f"{what}: the collection has no vector named {name!r}; it has {self.names}"
            )
        rows = value.tolist() if hasattr(value, "tolist") else value
        if spec.multi:
            if not isinstance(rows, list | tuple) or not rows:
                raise InvalidInputError(f"{what} must be a non-empty list of vectors (multivector)")
            return [_dense(row, spec.size, what=f"{what}[{i}]") for i, row in enumerate(rows)]
        return _dense(rows, spec.size, what=what)


def _dense(value: object, size: int, *, what: str) -> list[float]:
    row = value.tolist() if hasattr(value, "tolist") else value
    if not isinstance(row, list | tuple) or not row:
        raise InvalidInputError(
            f"{what} must be a non-empty list of numbers, got {type(value).__name__}"
        )
    out: list[float] = []
    for x in row:
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise InvalidInputError(f"{what} holds {x!r}; vectors must be finite numbers")
        out.append(float(x))
    if len(out) != size:
        raise DimensionMismatchError(
            f"{what} has dimension {len(out)} but the collection expects {size}; use the same "
            f"embedding model for every write and query. Nothing was written."
        )
    return out


def _sparse(value: object, *, what: str) -> models.SparseVector:
    if isinstance(value, Mapping):
        try:
            value = models.SparseVector(**value)
        except Exception as exc:
            raise InvalidInputError(f"{what} is not a sparse vector: {exc}") from exc
    if not isinstance(value, models.SparseVector):
        raise InvalidInputError(
            f"{what} must be a models.SparseVector (a sparse vector name), got "
            f"{type(value).__name__}"
        )
    if len(value.indices) != len(value.values):
        raise InvalidInputError(
            f"{what} has {len(value.indices)} indices but {len(value.values)} values"
        )
    if len(set(value.indices)) != len(value.indices):
        raise InvalidInputError(f"{what} has repeated indices")
    for i in value.indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < 2**32:
            raise InvalidInputError(f"{what} has index {i!r}; indices are unsigned 32-bit ints")
    for x in value.values:
        if not math.isfinite(x):
            raise InvalidInputError(f"{what} holds {x!r}; values must be finite")
    return value


@dataclass(frozen=True, slots=True)
class PayloadView:
    """What to ask Qdrant for (``fetch``) and what to hand back to the caller.

    ``fetch`` always includes the keys the re-check needs; ``strip`` are the keys
    removed again afterwards; ``drop_all`` is ``with_payload=False``.
    """

    fetch: bool | list[str] | models.PayloadSelectorInclude | models.PayloadSelectorExclude
    strip: frozenset[str]
    drop_all: bool

    @classmethod
    def of(cls, with_payload: object, resource_key: str) -> PayloadView:
        """Build the view for a caller's ``with_payload`` value."""
        needed = (WORKSPACE_KEY, resource_key, ID_KEY)
        if with_payload is True:
            return cls(fetch=True, strip=frozenset({ID_KEY}), drop_all=False)
        if with_payload is False or with_payload is None:
            return cls(
                fetch=models.PayloadSelectorInclude(include=list(needed)),
                strip=frozenset(needed),
                drop_all=True,
            )
        include: list[str] | None = None
        if isinstance(with_payload, models.PayloadSelectorInclude):
            include = list(with_payload.include)
        elif isinstance(with_payload, list | tuple) and all(
            isinstance(k, str) for k in with_payload
        ):
            include = list(with_payload)
        if include is not None:
            for key in include:
                root_key(key)
            fetch = list(dict.fromkeys([*include, *needed]))
            return cls(
                fetch=models.PayloadSelectorInclude(include=fetch),
                strip=frozenset({ID_KEY} | (set(needed) - set(include))),
                drop_all=False,
            )
        if isinstance(with_payload, models.PayloadSelectorExclude):
            exclude = list(with_payload.exclude)
            kept = [k for k in exclude if root_key(k) not in needed]
            fetch_ex: bool | models.PayloadSelectorExclude = (
                models.PayloadSelectorExclude(exclude=kept) if kept else True
            )
            return cls(
                fetch=fetch_ex,
                strip=frozenset({ID_KEY} | {k for k in exclude if k in needed}),
                drop_all=False,
            )
        raise InvalidInputError(
            f"with_payload must be a bool, a list of keys or a models.PayloadSelector, got "
            f"{with_payload!r}"
        )

    def present(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The payload handed back to the caller."""
        if self.drop_all:
            return None
        return {k: v for k, v in payload.items() if k not in self.strip}


def check_payload(payload: object, *, what: str) -> dict[str, Any]:
    """A caller's payload as a dict (``None`` is empty); it may not carry :data:`ID_KEY`."""
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise InvalidInputError(f"{what} must be a dict, got {type(payload).__name__}")
    for key in payload:
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"{what} has a key that is not a non-empty string: {key!r}")
    if ID_KEY in payload:
        raise ReservedKeyError(
            f"{what} sets {ID_KEY!r}, which holds the point's own id; the point's id is "
            f"stored there for you. Remove it."
        )
    return dict(payload)
