"""Workspace placement: where a workspace's records physically live, decided once.

Every backend can keep all workspaces in one place (one collection, one table, one
shard) with the tenancy filter, or give a workspace a place of its own (a Chroma
collection, a PostgreSQL partition, a Qdrant shard). This module is the neutral notion;
each adapter only maps a :class:`Target` to its engine (a collection name, a partition,
a ``shard_key_selector``).

Three modes (:class:`Placement`):

* ``shared``: every workspace in the shared place, isolated by the tenancy filter.
* ``per_tenant``: every workspace in its own place; there is no shared place.
* ``tiered``: a shared place for most workspaces, and an own place for the promoted
  ones (the large tenants), named in ``promoted`` or found by the adapter.

The rule that makes placement safe: **the target is derived from the scope's workspace
only**, never from an argument of a call. :meth:`Placement.target` takes a
:class:`~sentinel_vectors.scope.Scope` and nothing the caller passes; the names of own
places (:func:`dedicated_name`) are a pure function of the base name and the canonical
workspace UUID, so no id, filter, where clause or collection name a caller passes can
name another workspace's place. The tenancy filter stays on every read and write in
every mode: placement is a second fence and a performance tool, never the only fence.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sentinel_vectors.access import canonical_uuid
from sentinel_vectors.errors import InvalidInputError

if TYPE_CHECKING:
    from sentinel_vectors.scope import Scope

__all__ = [
    "DEDICATED_MARK",
    "SHARED",
    "Placement",
    "PlacementMode",
    "Target",
    "dedicated_name",
    "is_dedicated_name",
]

PlacementMode = Literal["shared", "per_tenant", "tiered"]
"""Where workspaces live: all in one place, each in its own, or shared with promotions."""

DEDICATED_MARK = "__ws_"
"""What separates the base name from the workspace in an own place's name."""

_DEDICATED = re.compile(r"__ws_[0-9a-f]{32}$")


def dedicated_name(base: str, workspace_id: str, *, max_length: int | None = None) -> str:
    """The name of ``workspace_id``'s own place next to ``base``: ``<base>__ws_<uuid hex>``.

    A pure function of the two: the workspace is a canonical UUID (32 hex digits in the
    name), so two workspaces never share a name and no other text can produce one.
    ``max_length`` is the engine's identifier limit (PostgreSQL: 63); a base too long
    for it is an :class:`~sentinel_vectors.errors.InvalidInputError`, never truncated
    (truncation could make two names equal).
    """
    if not isinstance(base, str) or not base:
        raise InvalidInputError("a placement base name must be a non-empty string")
    if _DEDICATED.search(base):
        raise InvalidInputError(f"{base!r} is already a workspace's own place")
    ws = uuid.UUID(canonical_uuid(workspace_id, what="workspace_id")).hex
    name = f"{base}{DEDICATED_MARK}{ws}"
    if max_length is not None and len(name) > max_length:
        raise InvalidInputError(
            f"base name {base!r} is too long for a workspace's own place: "
            f"{len(name)} > {max_length} characters"
        )
    return name


def is_dedicated_name(name: str) -> bool:
    """Whether ``name`` has the shape of some workspace's own place."""
    return bool(_DEDICATED.search(name))


@dataclass(frozen=True, slots=True)
class Target:
    """Where one scope's records live: the shared place, or the workspace's own.

    ``workspace_id`` is always the scope's (canonical); ``dedicated`` says which place.
    """

    workspace_id: str
    dedicated: bool

    def name(self, base: str, *, max_length: int | None = None) -> str:
        """The place's name: ``base`` for the shared place, else :func:`dedicated_name`."""
        if not self.dedicated:
            return base
        return dedicated_name(base, self.workspace_id, max_length=max_length)

    @property
    def shard_key(self) -> str:
        """The workspace as a shard or partition key (its canonical UUID)."""
        return self.workspace_id


@dataclass(frozen=True, slots=True)
class Placement:
    """A placement setting: the mode and, for ``tiered``, the promoted workspaces.

    ``promoted`` may be left empty when the adapter finds promoted workspaces itself
    (a Chroma collection that exists, a PostgreSQL partition); it is canonicalised.
    """

    mode: PlacementMode = "shared"
    promoted: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.mode not in ("shared", "per_tenant", "tiered"):
            raise InvalidInputError(
                f"placement mode must be 'shared', 'per_tenant' or 'tiered', got {self.mode!r}"
            )
        if isinstance(self.promoted, str):
            raise InvalidInputError("promoted must be a collection of workspace ids, not a str")
        canonical = frozenset(canonical_uuid(w, what="promoted workspace") for w in self.promoted)
        if canonical and self.mode != "tiered":
            raise InvalidInputError("only a 'tiered' placement names promoted workspaces")
        object.__setattr__(self, "promoted", canonical)

    def target(self, scope: Scope, *, promoted: bool = False) -> Target:
        """Where ``scope``'s workspace lives: from the scope's workspace alone.

        ``promoted`` is the adapter's own finding that the workspace has its own place
        (a tiered store that looks the place up); it matters only in ``tiered`` mode.
        """
        ws = canonical_uuid(scope.workspace_id, what="scope.workspace_id")
        if self.mode == "shared":
            return Target(ws, dedicated=False)
        if self.mode == "per_tenant":
            return Target(ws, dedicated=True)
        return Target(ws, dedicated=promoted or ws in self.promoted)

    def promote(self, workspace_id: str) -> Placement:
        """This tiered placement with ``workspace_id`` promoted too."""
        if self.mode != "tiered":
            raise InvalidInputError("only a 'tiered' placement promotes workspaces")
        ws = canonical_uuid(workspace_id, what="workspace_id")
        return Placement("tiered", self.promoted | {ws})


SHARED = Placement()
"""The default placement: every workspace in one place, isolated by the tenancy filter."""
