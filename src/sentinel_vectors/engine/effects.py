"""What the engine's workflows ask for: effects, answered by a driver.

A workflow (:mod:`~sentinel_vectors.engine.reads`, :mod:`~sentinel_vectors.engine.writes`)
is a generator. It never calls the permission service or a store itself; it yields an
effect and is resumed with the answer:

- :class:`AskAccess`: ``accessible(resource_type, action)`` of the caller, as an
  :class:`~sentinel_vectors.access.Access` (the driver calls
  :meth:`Scope.access <sentinel_vectors.scope.Scope.access>`);
- :class:`AskRegistered`: which resources are registered in the caller's workspace (the
  driver calls :meth:`Scope.registered <sentinel_vectors.scope.Scope.registered>`);
- :class:`Native`: one call of the store's own client (``collection.query(...)``,
  ``client.scroll(...)``, ``session.execute(...)``). Adapters build these; the driver
  awaits the call, runs it in a worker thread, or calls it blocking.

So the read and write workflows exist once for every store and for both the async and
the sync form of a wrapper: :mod:`sentinel_vectors.drive` holds the two drivers.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinel_vectors.access import Action

__all__ = ["AskAccess", "AskRegistered", "Effect", "Native", "Row", "Step"]


@dataclass(frozen=True, slots=True)
class AskAccess:
    """Ask the permission service what the caller may ``action``; answered with ``Access``."""

    action: Action


@dataclass(frozen=True, slots=True)
class AskRegistered:
    """Ask which of ``resource_ids`` are registered in the caller's workspace.

    Answered with a ``set[str]``. Only asked for callers with full access, for whom
    ``accessible()`` does not list resources (see
    :meth:`~sentinel_vectors.policy.TenancyPolicy.check_resources`).
    """

    resource_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Native:
    """One call of the store's client: ``target.method(*args, **kwargs)``.

    ``target`` ``None`` means the driver's store connection (a SQLAlchemy session the
    driver opened for this call; see :func:`sentinel_vectors.drive.run_async`). Keyword
    arguments whose value is ``None`` are passed as given: leave out what the native
    call must not receive.
    """

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    target: Any = None


Effect = AskAccess | AskRegistered | Native
"""Anything a workflow may yield."""

type Step[T] = Generator[Effect, Any, T]
"""A workflow, or a part of one: yields effects, is sent their answers, returns ``T``."""


@dataclass(slots=True)
class Row:
    """One stored record as the workflows see it.

    ``pid``: the id as stored (unique within the read: duplicates are dropped by it).
    ``meta``: the record's metadata, with at least the tenancy keys (workspace, owner,
    resource) as stored, for the re-check. ``distance``: smaller is nearer (top-k only).
    ``native``: whatever the adapter needs to build its own result shape; the engine
    never reads it. ``caller_id``: the id as the caller wrote it, when the stored id is
    not that (Qdrant stores a UUID derived from it); audit events report it.
    """

    pid: str
    meta: Mapping[str, Any]
    distance: float = 0.0
    native: Any = None
    caller_id: str | None = None

    @property
    def shown_id(self) -> str:
        """The id an audit event names: the caller's, else the stored one."""
        return self.pid if self.caller_id is None else self.caller_id
