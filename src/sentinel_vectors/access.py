"""What a caller may reach, and how records name who they belong to: pure values, no I/O.

:class:`Access` is one normalised answer of the permission service's ``accessible()``;
:data:`WORKSPACE_KEY` and :data:`OWNER_KEY` are the metadata keys every record is stamped
with; :func:`canonical_uuid` is the one spelling of a Sentinel id. The decision layers
(policy, strategy, the engine) use these without importing anything that talks to the
identity service; :class:`~sentinel_vectors.scope.Scope`, which does, re-exports them.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterable
from typing import Literal

from sentinel_vectors.errors import InvalidInputError

__all__ = [
    "ID_SEPARATOR",
    "OWNER_KEY",
    "WORKSPACE_KEY",
    "Access",
    "Action",
    "canonical_uuid",
    "namespaced_id",
]

WORKSPACE_KEY = "workspace_id"
"""Metadata key stamped with the writer's workspace id."""

OWNER_KEY = "owner_id"
"""Metadata key stamped with the chunk owner's user id."""

ID_SEPARATOR = ":"
"""Between the workspace id and the caller's id in a physical id (a UUID has no ``:``)."""

Action = Literal["view", "edit"]
"""The actions Sentinel's permission service knows."""

_UUID_INT = operator.attrgetter("int")


def canonical_uuid(value: object, *, what: str) -> str:
    """Return the canonical lower-case string form of a UUID given as ``str`` or ``UUID``.

    Sentinel resource, user and workspace ids are UUIDs; comparing canonical forms means
    ``"ABC..."`` and ``"abc..."`` can never name two different resources.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidInputError(f"{what} must be a UUID (str or uuid.UUID), got {value!r}")


def namespaced_id(workspace_id: str, record_id: str) -> str:
    """The physical id of ``record_id`` in ``workspace_id``: ``"<workspace uuid>:<id>"``.

    The one rule of the per-workspace id namespace (invariant 3): the policy stores
    records under it, and the operations checks (``sentinel_vectors.operations``) test
    stored ids against it. A UUID never contains ``:``, so the split is unambiguous.
    """
    return f"{workspace_id}{ID_SEPARATOR}{record_id}"


class Access:
    """The answer of one ``accessible()`` call, normalised.

    ``full`` is Sentinel's ``has_full_access`` (workspace admin or owner): every
    resource of the workspace. Otherwise only ``resource_ids`` (canonical UUID strings).

    Built from the SDK's answer (``uuid.UUID`` objects) with :meth:`from_uuids`, the
    answer is kept as given and nothing is hashed up front: ``uuid.UUID.__hash__`` runs
    in Python, and a store that binds the UUIDs (:attr:`uuid_list`) never needs a set of
    them. :meth:`allows` builds a set of the UUIDs' integers the first time it is asked
    (one C-level pass), the string set is made only when something asks for
    :attr:`resource_ids`. Immutable; equal when action, ``full`` and the ids are.
    """

    __slots__ = ("_ids", "_ints", "_uuids", "action", "full")

    action: Action
    full: bool
    _ids: frozenset[str] | None
    _uuids: tuple[uuid.UUID, ...] | None
    _ints: frozenset[int] | None

    def __init__(self, action: Action, full: bool, resource_ids: frozenset[str]) -> None:
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "full", full)
        object.__setattr__(self, "_ids", frozenset(resource_ids))
        object.__setattr__(self, "_uuids", None)
        object.__setattr__(self, "_ints", None)

    @classmethod
    def from_uuids(cls, action: Action, full: bool, resource_ids: Iterable[uuid.UUID]) -> Access:
        """An answer given as ``uuid.UUID`` objects (as ``RequestAuth.accessible`` returns).

        Every item must be a ``uuid.UUID`` (not a subclass): the identity layer checks.
        """
        out = cls.__new__(cls)
        object.__setattr__(out, "action", action)
        object.__setattr__(out, "full", full)
        object.__setattr__(out, "_ids", None)
        object.__setattr__(out, "_uuids", tuple(resource_ids))
        object.__setattr__(out, "_ints", None)
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Access is immutable")

    @property
    def resource_ids(self) -> frozenset[str]:
        """The reachable resource ids, as canonical UUID strings."""
        ids: frozenset[str] | None = self._ids
        if ids is None:
            ids = frozenset(map(str, self._uuids or ()))
            object.__setattr__(self, "_ids", ids)
        return ids

    @property
    def uuids(self) -> frozenset[uuid.UUID]:
        """The reachable resource ids as a set of ``uuid.UUID`` (hashes every one)."""
        return frozenset(self.uuid_list)

    @property
    def uuid_list(self) -> tuple[uuid.UUID, ...]:
        """The reachable resource ids as ``uuid.UUID`` objects, in the answer's order.

        For stores that bind the list natively (pgvector's ``uuid[]``): the SDK's objects
        as it returned them, neither copied one by one nor hashed.
        """
        if self._uuids is not None:
            return self._uuids
        return tuple(map(uuid.UUID, sorted(self._ids or ())))

    @property
    def count(self) -> int:
        """How many resource ids the answer lists (without converting them)."""
        return len(self._ids if self._ids is not None else self._uuids or ())

    @property
    def is_empty(self) -> bool:
        """True when nothing at all is reachable: the store need not be asked."""
        return not self.full and self.count == 0

    def allows(self, resource_id: object) -> bool:
        """Whether a record whose resource key holds ``resource_id`` is reachable."""
        if self.full:
            return True
        if not isinstance(resource_id, str):
            return False
        if self._ids is not None:
            return resource_id in self._ids
        try:
            parsed = uuid.UUID(resource_id)
        except ValueError:
            return False
        # Only the canonical spelling matches, exactly as with the string set.
        return parsed.int in self._int_set() and str(parsed) == resource_id

    def _int_set(self) -> frozenset[int]:
        """The answer's UUIDs as integers (``UUID.int``), hashed in C, made once."""
        ints = self._ints
        if ints is None:
            ints = frozenset(map(_UUID_INT, self._uuids or ()))
            object.__setattr__(self, "_ints", ints)
        return ints

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Access):
            return NotImplemented
        return (self.action, self.full, self.resource_ids) == (
            other.action,
            other.full,
            other.resource_ids,
        )

    def __hash__(self) -> int:
        return hash((self.action, self.full, self.resource_ids))

    def __repr__(self) -> str:
        return f"Access(action={self.action!r}, full={self.full!r}, ids={self.count})"
