"""Resource lifecycle: index and delete a resource's chunks together with its registration.

A resource (a document) lives in two places: its chunks in a vector store, and its ACL
record in the Sentinel identity service. They must never disagree in the dangerous
direction:

- **nothing is searchable that the identity service does not know.** A chunk whose
  resource is not registered is invisible to ordinary members (``accessible()`` never
  lists it) but visible to every workspace admin, whose reads are filtered by workspace
  only; its owner could not even see or delete it;
- **nothing is lost that the identity service knows.** A registered resource's chunks
  are only removed by :meth:`ResourceLifecycle.delete_resource` or by undoing an index
  call that created the registration;
- **retries are idempotent.** Chunk ids are derived from the resource id and position
  (:func:`sentinel_vectors.index.chunk_id`), registration of an existing resource is a
  no-op, and deregistering a resource that is gone counts as done.

Hence the order (``docs/fastapi.md`` has the full failure table):

``index_resource``
    look up the ACL record -> (new: check role, **register**) -> **write chunks**.
    Registration comes first, so a chunk never exists unregistered, not even for the
    milliseconds between two calls, and a crash can only leave a registered resource with
    fewer chunks than intended, which every retry completes. If the write fails for a
    resource this call registered, its chunks are removed and it is deregistered again,
    in that order; if that undo fails part-way, what remains is still registered.
``delete_resource``
    look up the ACL record -> check owner/admin -> **remove chunks** -> **deregister**.
    Deregistering last means a failure leaves a registered resource with fewer (or no)
    chunks, never chunks the service has forgotten.

Authorization is checked here and not only by the identity service, because
``register_resource`` and ``deregister_resource`` are authorized by the service key
alone: creating a resource needs the ``editor`` role, re-indexing one needs ``edit``
access to it, deleting one needs to be its owner or a workspace ``admin``/``owner``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sentinel_vectors import identity
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
)
from sentinel_vectors.identity import ResourceRecord
from sentinel_vectors.index import Chunk, ChunkIndex, check_chunks, chunk_metadata
from sentinel_vectors.scope import Scope, canonical_uuid

__all__ = [
    "LIFECYCLE_LOGGER",
    "VISIBILITIES",
    "DeleteResult",
    "IndexResult",
    "PermissionsAPI",
    "ResourceConflictError",
    "ResourceLifecycle",
    "ResourceNotFoundError",
    "ResourceRecord",
    "ResourceRegistry",
    "SentinelRegistry",
    "check_may_create",
    "check_may_delete",
    "check_same_workspace",
]

LIFECYCLE_LOGGER: Final = "sentinel_vectors.lifecycle"
"""Logger that records every undo, and every undo that failed, at WARNING/ERROR."""

VISIBILITIES: Final = frozenset({"private", "workspace"})
"""The visibilities Sentinel knows for a new resource."""

_log = logging.getLogger(LIFECYCLE_LOGGER)


class ResourceConflictError(AccessDeniedError):
    """The resource id cannot be used by the caller to create a resource.

    It is registered in another workspace, to someone the caller cannot see, or records
    of it that someone else wrote are in the store. One message for all, which says
    nothing about the other party. Nothing was written or registered. Generate resource
    ids on the server (``uuid.uuid4()``), never take them from the client.
    """


class ResourceNotFoundError(AccessDeniedError):
    """No resource of this id that the caller may see exists in its workspace.

    Raised alike for an unknown id, a resource of another workspace and one the caller
    may not view (invariant 9): the answer never tells them apart. FastAPI: 404.
    """


def _unavailable(scope: Scope, rid: str) -> ResourceConflictError:
    return ResourceConflictError(
        f"{scope.resource_type} id {rid} cannot be used to create a {scope.resource_type}; "
        f"nothing was registered or written. Generate a new id (uuid.uuid4()) on the server."
    )


def _not_found(scope: Scope, rid: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(
        f"no {scope.resource_type} {rid} in the caller's workspace; nothing was deleted"
    )


# --------------------------------------------------------------------------- identity side


class ResourceRegistry(Protocol):
    """What the lifecycle needs of the identity service, for one resource type."""

    async def lookup(self, resource_id: str) -> ResourceRecord | None:
        """The resource's record, or ``None`` if it is not registered."""
        ...

    async def register(self, resource_id: str, visibility: str) -> ResourceRecord:
        """Register the resource for the caller (an existing record is returned unchanged)."""
        ...

    async def deregister(self, resource_id: str) -> bool:
        """Forget the resource and its shares; ``False`` if it was not registered."""
        ...


class PermissionsAPI(identity.RegistryAPI, Protocol):
    """The part of ``sentinel_auth.PermissionClient`` :class:`SentinelRegistry` calls.

    ``get_resource_acl``, ``register_resource`` and ``deregister_resource``
    (:class:`sentinel_vectors.identity.RegistryAPI`).
    """


class SentinelRegistry:
    """:class:`ResourceRegistry` over the SDK's ``PermissionClient``, for one caller's scope.

    The resource is registered in the scope's workspace with the scope's user as owner
    (what ``RequestAuth.register_resource`` does). Every failure of the identity service
    (HTTP error other than the 404 of an unknown resource, transport error, timeout after
    ``scope.timeout`` seconds, malformed answer) raises :class:`PermissionServiceError`.
    """

    def __init__(self, permissions: PermissionsAPI, scope: Scope) -> None:
        self._permissions = permissions
        self._scope = scope

    async def lookup(self, resource_id: str) -> ResourceRecord | None:
        """The resource's record, or ``None`` on 404 (:func:`identity.lookup_resource`)."""
        scope = self._scope
        return await identity.lookup_resource(
            self._permissions, scope.resource_type, resource_id, time_limit=scope.timeout
        )

    async def register(self, resource_id: str, visibility: str) -> ResourceRecord:
        """Register in the caller's workspace, owned by the caller.

        A service that answers 409 for a resource registered already (rather than
        returning its record) is handled alike: the existing record is looked up and
        returned, and the lifecycle decides whether it is the caller's.
        """
        scope = self._scope
        return await identity.register_resource(
            self._permissions,
            scope.resource_type,
            resource_id,
            workspace_id=scope.workspace_id,
            owner_id=scope.user_id,
            visibility=visibility,
            time_limit=scope.timeout,
        )

    async def deregister(self, resource_id: str) -> bool:
        """Deregister; a 404 (already gone) returns ``False``."""
        scope = self._scope
        return await identity.deregister_resource(
            self._permissions, scope.resource_type, resource_id, time_limit=scope.timeout
        )


# --------------------------------------------------------------------------- rules


def check_same_workspace(scope: Scope, record: ResourceRecord) -> None:
    """A resource registered in another workspace is never touched from this one.

    Raises :class:`ResourceConflictError` with the same message as every other id the
    caller may not use: nothing tells that the id exists elsewhere.
    """
    if record.workspace_id != scope.workspace_id:
        raise _unavailable(scope, record.resource_id)


def check_may_create(scope: Scope) -> None:
    """Creating a new resource needs the ``editor`` role (the store's write rule, too)."""
    if not scope.has_role("editor"):
        raise AccessDeniedError(
            f"creating a {scope.resource_type} needs the editor role or above; the caller is "
            f"{scope.role!r}. Nothing was registered or written."
        )


def check_may_delete(scope: Scope, record: ResourceRecord) -> None:
    """Deleting a resource needs to own it or be a workspace ``admin``/``owner``.

    The same rule as sharing in Sentinel; ``deregister_resource`` itself only checks the
    service key, so the rule has to be enforced by the caller of it: here. A resource of
    another workspace raises :class:`ResourceNotFoundError` (it is not there, for this
    caller).
    """
    if record.workspace_id != scope.workspace_id:
        raise _not_found(scope, record.resource_id)
    if record.owner_id != scope.user_id and not scope.has_role("admin"):
        raise AccessDeniedError(
            f"only the owner or a workspace admin may delete {scope.resource_type} "
            f"{record.resource_id}; nothing was deleted"
        )


# --------------------------------------------------------------------------- lifecycle


@dataclass(frozen=True, slots=True)
class IndexResult:
    """What :meth:`ResourceLifecycle.index_resource` did."""

    resource_id: str
    chunks: int
    created: bool
    """True if this call registered the resource (False: it was registered already)."""
    record: ResourceRecord


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What :meth:`ResourceLifecycle.delete_resource` did."""

    resource_id: str
    registered: bool
    """True if the resource was registered in the caller's workspace (False: an admin
    removed records of an id the workspace has not registered)."""


class ResourceLifecycle:
    """Index and delete resources for one caller: store and identity service in step.

    Args:
        index: the caller's scoped :class:`~sentinel_vectors.index.ChunkIndex`.
        registry: the identity service for the same caller and resource type
            (:class:`SentinelRegistry`).

    The order of the steps and the state left by each failure are in the module
    docstring and in ``docs/fastapi.md``.
    """

    def __init__(self, index: ChunkIndex, registry: ResourceRegistry) -> None:
        self._index = index
        self._registry = registry

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        return self._index.scope

    async def index_resource(
        self,
        resource_id: str | uuid.UUID,
        chunks: Sequence[Chunk],
        *,
        visibility: str = "workspace",
    ) -> IndexResult:
        """Register ``resource_id`` (if new) and write its chunks, replacing earlier ones.

        ``visibility`` (``"private"`` or ``"workspace"``) applies when the resource is
        created; an existing resource keeps its visibility (change it through the SDK).

        Raises before anything is registered or written: :class:`InvalidInputError` for
        bad chunks or visibility, :class:`AccessDeniedError` when the caller may not
        create (role below editor) or edit (existing resource) it,
        :class:`ResourceConflictError` (one message for every reason) when the id is
        registered in another workspace, hidden from the caller, registered by someone
        else meanwhile, or holds records of it that someone else wrote (invariant 8),
        :class:`PermissionServiceError` when the identity service fails. If writing the
        chunks fails, a resource this call registered is unregistered again (chunks
        first) and the write's error is raised, with a note saying what the undo did.
        """
        scope = self.scope
        rid = canonical_uuid(resource_id, what="resource_id")
        if visibility not in VISIBILITIES:
            raise InvalidInputError(
                f"visibility must be one of {sorted(VISIBILITIES)}, got {visibility!r}"
            )
        checked = check_chunks(chunks)
        for i, chunk in enumerate(checked):
            chunk_metadata(scope, rid, i, chunk)  # refuses reserved keys before any call
        record = await self._registry.lookup(rid)
        created = record is None
        if record is None:
            check_may_create(scope)
            if not await self._index.claimable(rid):
                # Records of this id that someone else wrote (left by an earlier version
                # or a failure): registering would hand them to the caller.
                raise _unavailable(scope, rid)
            record = await self._registry.register(rid, visibility)
            if record.workspace_id != scope.workspace_id or record.owner_id != scope.user_id:
                # Registered by someone else between our lookup and our register: not ours.
                raise _unavailable(scope, rid)
            # The caller owns it now; RequestAuth's cached accessible() does not know yet.
            scope.grant(rid)
        else:
            check_same_workspace(scope, record)
            if record.owner_id is None and not scope.has_role("admin"):
                # Its owner is gone: only an admin may take it over (as for delete).
                raise AccessDeniedError(
                    f"{scope.resource_type} {rid} has no owner any more; only a workspace "
                    f"admin may re-index it. Nothing was written."
                )
            edit = await scope.access("edit")
            if not edit.allows(rid):
                view = await scope.access("view")
                if not view.allows(rid):
                    raise _unavailable(scope, rid)
                raise AccessDeniedError(
                    f"the caller may not edit {scope.resource_type} {rid}; nothing was written"
                )
        try:
            await self._index.put_chunks(rid, checked)
        except Exception as exc:
            if created:
                await self._undo_create(rid, exc)
            else:
                exc.add_note(
                    f"{scope.resource_type} {rid} stays registered; its chunks may be partly "
                    f"replaced. Retry index_resource() to complete them."
                )
            raise
        return IndexResult(resource_id=rid, chunks=len(checked), created=created, record=record)

    async def delete_resource(self, resource_id: str | uuid.UUID) -> DeleteResult:
        """Remove every record of the resource in the workspace, then deregister it.

        Needs ownership or the workspace ``admin``/``owner`` role. The records are
        selected by the stamped resource key, so every one goes, whoever wrote it and
        whatever else its metadata says (invariant 8). Raises
        :class:`ResourceNotFoundError` alike for an unknown id, a resource of another
        workspace and one the caller may not view (invariant 9);
        :class:`AccessDeniedError` when the caller may view it but is neither its owner
        nor an admin. An admin may remove records of an id that is not registered in the
        workspace (left by an earlier version or a failure): the result then says
        ``registered=False``. Every failure raises and leaves the resource registered, so
        a retry picks up where this call stopped.
        """
        scope = self.scope
        rid = canonical_uuid(resource_id, what="resource_id")
        record = await self._registry.lookup(rid)
        if record is None or record.workspace_id != scope.workspace_id:
            # Not registered here: only an admin's cleanup of unregistered records.
            if scope.has_role("admin") and await self._index.remove_chunks(rid) > 0:
                return DeleteResult(resource_id=rid, registered=False)
            raise _not_found(scope, rid)
        if record.owner_id != scope.user_id and not scope.has_role("admin"):
            view = await scope.access("view")
            if not view.allows(rid):
                raise _not_found(scope, rid)
        check_may_delete(scope, record)
        await self._index.remove_chunks(rid)
        try:
            await self._registry.deregister(rid)
        except Exception as exc:
            exc.add_note(
                f"the chunks of {scope.resource_type} {rid} are removed but it is still "
                f"registered (with nothing to find). Retry delete_resource()."
            )
            raise
        scope.forget(rid)
        return DeleteResult(resource_id=rid, registered=True)

    async def _undo_create(self, rid: str, cause: Exception) -> None:
        kind = self.scope.resource_type
        _log.warning(
            "sentinel-vectors: writing the chunks of a new %s failed; undoing its registration",
            kind,
            extra={"event": "sentinel_vectors.lifecycle.undo", "resource_id": rid},
        )
        try:
            await self._index.remove_chunks(rid)
        except Exception as exc:
            _log.error(
                "sentinel-vectors: undo could not remove chunks; the %s stays registered",
                kind,
                extra={"event": "sentinel_vectors.lifecycle.undo_failed", "resource_id": rid},
            )
            cause.add_note(
                f"undo: removing the chunks of {kind} {rid} failed ({type(exc).__name__}: "
                f"{exc}); it stays registered, so anything written stays under its ACL. "
                f"Retry index_resource() or call delete_resource()."
            )
            return
        try:
            await self._registry.deregister(rid)
            self.scope.forget(rid)
        except Exception as exc:
            _log.error(
                "sentinel-vectors: undo removed the chunks but could not deregister the %s",
                kind,
                extra={"event": "sentinel_vectors.lifecycle.undo_failed", "resource_id": rid},
            )
            cause.add_note(
                f"undo: the chunks of {kind} {rid} are removed but deregistering it failed "
                f"({type(exc).__name__}: {exc}); it stays registered with nothing to find. "
                f"Retry index_resource() or call delete_resource()."
            )
            return
        cause.add_note(f"undo: {kind} {rid} was unregistered again; nothing was left behind")
