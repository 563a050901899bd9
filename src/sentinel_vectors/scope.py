"""Who asks, and what the permission service says they may reach.

A :class:`Scope` is fixed when a scoped store is built from the request's auth
context: the workspace, the user, the role, the resource type and the metadata key
that holds the resource id. :meth:`Scope.access` asks the permission service
(``accessible()``) and fails closed on any error, timeout or malformed answer.
"""

from __future__ import annotations

import operator
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sentinel_vectors import identity
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

WORKSPACE_KEY = "workspace_id"
"""Metadata key stamped with the writer's workspace id."""

OWNER_KEY = "owner_id"
"""Metadata key stamped with the chunk owner's user id."""

Action = Literal["view", "edit"]
"""The actions Sentinel's permission service knows."""

_UUID_INT = operator.attrgetter("int")

_ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}


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

        Every item must be a ``uuid.UUID`` (not a subclass): :func:`_parse_answer` checks.
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
        answer = await identity.call(
            f"accessible({self.resource_type!r}, {action!r})",
            lambda: self.auth.accessible(self.resource_type, action),
            time_limit=self.timeout,
            idempotent=True,
        )
        return self._with_grants(_parse_answer(action, answer))

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
        lookup: Any = getattr(self.auth, "get_resource_acl", None)
        if lookup is None:
            raise PermissionServiceError(
                "the auth context has no get_resource_acl(), so whether a resource is "
                "registered cannot be checked; the write was refused (fail closed)"
            )
        revoked = {rid for t, rid in self._grants.revoked if t == self.resource_type}
        for rid in wanted:
            key = uuid.UUID(rid)

            def ask(key: uuid.UUID = key) -> Any:
                return lookup(self.resource_type, key)

            record = await identity.call(
                f"the lookup of resource {rid}",
                ask,
                time_limit=self.timeout,
                idempotent=True,
                missing_ok=True,
            )
            if (
                record is not None
                and _workspace_of(record) == self.workspace_id
                and rid not in revoked
            ):
                known.add(rid)
        return known


def _workspace_of(record: object) -> str:
    """The canonical workspace id of an ACL record, or fail closed."""
    try:
        value = record["workspace_id"]  # type: ignore[index]
        return canonical_uuid(value, what="workspace_id")
    except (KeyError, TypeError, InvalidInputError) as exc:
        raise PermissionServiceError(
            "the permission service answered a resource record without a valid workspace_id; "
            "the write was refused (fail closed)"
        ) from exc


def _parse_answer(action: Action, answer: object) -> Access:
    malformed = PermissionServiceError(
        f"the permission service answered accessible(..., {action!r}) with something that is "
        f"not (list of resource ids, has_full_access); refused (fail closed)"
    )
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise malformed
    ids, full = answer
    if not isinstance(full, bool) or not isinstance(ids, list | tuple | set | frozenset):
        raise malformed
    if set(map(type, ids)) <= {uuid.UUID}:
        # The SDK's answer: UUID objects, kept as they are (strings are made on demand).
        return Access.from_uuids(action, full, ids)
    try:
        canonical = frozenset(canonical_uuid(rid, what="resource id") for rid in ids)
    except InvalidInputError as exc:
        raise malformed from exc
    return Access(action=action, full=full, resource_ids=canonical)
