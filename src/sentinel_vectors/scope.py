"""Who asks, and what the permission service says they may reach.

A :class:`Scope` is fixed when a scoped store is built from the request's auth
context: the workspace, the user, the role, the resource type and the metadata key
that holds the resource id. :meth:`Scope.access` asks the permission service
(``accessible()``) and fails closed on any error, timeout or malformed answer.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from sentinel_vectors import identity
from sentinel_vectors.access import OWNER_KEY, WORKSPACE_KEY, Access, Action, canonical_uuid
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.errors import (
    InvalidInputError,
    MissingAuthError,
    PermissionServiceError,
)

__all__ = [
    "OWNER_KEY",
    "WORKSPACE_KEY",
    "Access",
    "Action",
    "Scope",
    "canonical_uuid",
]

_ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}


@dataclass
class _RequestGrants:
    """What this process learned about the caller's resources during one request.

    ``RequestAuth`` caches ``accessible()`` for the request, so a resource the caller
    registers (and becomes owner of) in the request is missing from later answers, and
    one it deleted is still listed. Both are corrected here, keyed by the auth object so
    that every scope built from the same ``RequestAuth`` agrees.
    """

    granted: set[tuple[str, str]] = field(default_factory=set)
    revoked: set[tuple[str, str]] = field(default_factory=set)


# id(auth) -> grants; the entry is dropped when the auth object is collected.
_GRANTS: dict[int, _RequestGrants] = {}


def _grants_of(auth: object) -> _RequestGrants:
    key = id(auth)
    grants = _GRANTS.get(key)
    if grants is None:
        grants = _RequestGrants()
        try:
            weakref.finalize(auth, _GRANTS.pop, key, None)
        except TypeError:
            return grants  # not weak-referenceable: the grants live in this scope only
        _GRANTS[key] = grants
    return grants


@dataclass(frozen=True)
class Scope:
    """The fixed tenancy context of one scoped store.

    Build it with :meth:`Scope.of`; adapters do this for you.
    """

    auth: AuthContext = field(repr=False)
    resource_type: str
    resource_key: str
    workspace_id: str
    user_id: str
    role: str
    timeout: float
    _grants: _RequestGrants = field(default_factory=_RequestGrants, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        auth: AuthContext | None,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        timeout: float = 5.0,
    ) -> Scope:
        """Capture the scope from an auth context, validating every part of it.

        Raises :class:`MissingAuthError` for ``None`` and :class:`InvalidInputError`
        for an empty resource type, a resource key that collides with a tenancy key,
        or a non-positive timeout.
        """
        if auth is None:
            raise MissingAuthError(
                "a scoped store needs the request's auth context (sentinel_auth.RequestAuth); "
                "got None. There is no unscoped mode."
            )
        if not isinstance(auth, AuthContext):
            raise MissingAuthError(
                f"auth must provide user_id, workspace_id, workspace_role, groups and "
                f"accessible() like sentinel_auth.RequestAuth; got {type(auth).__name__}"
            )
        if hasattr(auth, "_permissions") and auth._permissions is None:
            # The SDK's RequestAuth built without a PermissionClient: a wiring mistake, not
            # an outage, so it is not reported as a retryable 503.
            raise MissingAuthError(
                "this RequestAuth has no PermissionClient, so accessible() cannot be asked. "
                "Build it with get_request_auth_factory(permissions=PermissionClient(...)), "
                "Sentinel(...).get_auth, or sentinel_vectors.fastapi.request_auth with "
                "VectorStores(permissions=...)."
            )
        if not isinstance(resource_type, str) or not resource_type:
            raise InvalidInputError("resource_type must be a non-empty string, e.g. 'document'")
        if not isinstance(resource_key, str) or not resource_key or resource_key.startswith("$"):
            raise InvalidInputError("resource_key must be a non-empty metadata key")
        if resource_key in (WORKSPACE_KEY, OWNER_KEY):
            raise InvalidInputError(
                f"resource_key may not be {resource_key!r}: that key is stamped from the scope"
            )
        if not timeout > 0:
            raise InvalidInputError("timeout must be a positive number of seconds")
        return cls(
            auth=auth,
            resource_type=resource_type,
            resource_key=resource_key,
            workspace_id=canonical_uuid(auth.workspace_id, what="auth.workspace_id"),
            user_id=canonical_uuid(auth.user_id, what="auth.user_id"),
            role=str(auth.workspace_role),
            timeout=timeout,
            _grants=_grants_of(auth),
        )

    @property
    def reserved_keys(self) -> frozenset[str]:
        """The metadata keys the tenancy layer owns."""
        return frozenset({WORKSPACE_KEY, OWNER_KEY, self.resource_key})

    def has_role(self, minimum: str) -> bool:
        """Whether the caller's workspace role is at least ``minimum`` (no network call)."""
        return _ROLE_RANK.get(self.role, -1) >= _ROLE_RANK.get(minimum, 99)

    async def access(self, action: Action) -> Access:
        """Ask the permission service what the caller may ``action``; fail closed.

        Any exception from ``accessible()``, a timeout after ``self.timeout`` seconds,
        or an answer that is not ``(list of UUIDs, bool)`` raises
        :class:`PermissionServiceError` (typed by :mod:`sentinel_vectors.identity`: a
        429 is a ``RateLimitedError``); nothing is ever read or written unfiltered. A
        pooled connection broken by the server is retried once (the call is a read).
        """
        answer = await identity.accessible(
            self.auth, self.resource_type, action, time_limit=self.timeout
        )
        return self._with_grants(answer)

    # -- what this request changed ---------------------------------------------------

    def grant(self, resource_id: str) -> None:
        """Record that the caller registered ``resource_id`` in this request (its owner).

        Later :meth:`access` answers of every scope built from the same auth object
        include it for ``view`` and ``edit``, although ``RequestAuth`` cached the answer
        from before the registration. Called by the resource lifecycle only.
        """
        key = (self.resource_type, canonical_uuid(resource_id, what="resource_id"))
        self._grants.revoked.discard(key)
        self._grants.granted.add(key)

    def forget(self, resource_id: str) -> None:
        """Record that ``resource_id`` was deregistered in this request.

        Later :meth:`access` answers leave it out, although a cached answer still lists
        it: nothing can be written for a resource the identity service no longer knows.
        """
        key = (self.resource_type, canonical_uuid(resource_id, what="resource_id"))
        self._grants.granted.discard(key)
        self._grants.revoked.add(key)

    def granted(self, resource_id: str) -> bool:
        """Whether the caller registered ``resource_id`` in this request (and kept it)."""
        return (self.resource_type, resource_id) in self._grants.granted

    def _with_grants(self, access: Access) -> Access:
        grants = self._grants
        if access.full or not (grants.granted or grants.revoked):
            return access
        kind = self.resource_type
        added = {rid for t, rid in grants.granted if t == kind}
        removed = {rid for t, rid in grants.revoked if t == kind}
        if not added and not removed:
            return access
        ids = (access.resource_ids | added) - removed
        return Access(action=access.action, full=False, resource_ids=frozenset(ids))

    async def registered(self, resource_ids: Iterable[str]) -> set[str]:
        """Which of ``resource_ids`` are registered in the caller's workspace; fail closed.

        Asks ``get_resource_acl`` (``RequestAuth`` has it). A 404 or a record of another
        workspace means "not registered here"; any other failure, a timeout, a malformed
        answer, or an auth context without ``get_resource_acl`` raises
        :class:`PermissionServiceError`. Resources the caller registered in this request
        (:meth:`grant`) are known without a call.
        """
        wanted = sorted(set(resource_ids))
        known = {rid for rid in wanted if self.granted(rid)}
        wanted = [rid for rid in wanted if rid not in known]
        if not wanted:
            return known
        if getattr(self.auth, "get_resource_acl", None) is None:
            raise PermissionServiceError(
                "the auth context has no get_resource_acl(), so whether a resource is "
                "registered cannot be checked; the write was refused (fail closed)"
            )
        api: identity.AclAPI = self.auth  # type: ignore[assignment]
        revoked = {rid for t, rid in self._grants.revoked if t == self.resource_type}
        for rid in wanted:
            record = await identity.lookup_resource(
                api, self.resource_type, rid, time_limit=self.timeout
            )
            if (
                record is not None
                and record.workspace_id == self.workspace_id
                and rid not in revoked
            ):
                known.add(rid)
        return known
