"""Every call to the Sentinel identity service, and what its answers mean.

This module is the only caller of the SDK's permission calls; everything else goes
through one function per call, so the rules live here once:

- ``accessible``: :func:`accessible` (used by ``Scope.access``);
- ``get_resource_acl``: :func:`resource_acl` and :func:`lookup_resource` (used by
  ``Scope.registered``, ``SentinelRegistry.lookup`` and :func:`share`);
- ``register_resource`` / ``deregister_resource``: :func:`register_resource` /
  :func:`deregister_resource` (used by ``SentinelRegistry``);
- ``share``: :func:`share` (the example service's share route).

The rules, once for every call:

- **fail closed**: anything but a usable answer raises a
  :class:`~sentinel_vectors.errors.PermissionServiceError`, typed by what happened:
  :class:`~sentinel_vectors.errors.IdentityRequestError` for a 400/422 (the request
  was invalid: a client mistake, not an outage),
  :class:`~sentinel_vectors.errors.RateLimitedError` for a 429 (retryable, with the
  service's ``Retry-After``), :class:`~sentinel_vectors.errors.IdentityTokenRejectedError`
  for a 401 about the user's token (revoked, deactivated user, foreign ``iss``), a plain
  ``PermissionServiceError`` for everything else (5xx, 401/403 on the service key,
  timeouts, transport errors, malformed answers). A 404 of a resource lookup means "not
  registered" (``None``); nothing else does;
- **one retry on a broken pooled connection**: after the real service answers a 500
  (an unhandled exception), the SDK's pooled ``httpx`` connection to it is
  sometimes dead, and the next call fails with ``httpx.ReadError`` or
  ``httpx.RemoteProtocolError`` before any answer. Idempotent calls (``accessible``,
  ACL lookups, register -- an upsert) are retried once on exactly those errors;
  other calls are not retried.

:func:`share` is the SDK's ``share`` with Sentinel's duplicate-share quirk told apart
from an outage: the service answers a second share to the same grantee with a 500
and keeps the first, so on a 500 the ACL is read and, if the grantee already has a
share, :class:`~sentinel_vectors.errors.DuplicateShareError` says to unshare first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx

from sentinel_vectors.access import Access, Action, canonical_uuid
from sentinel_vectors.errors import (
    DuplicateShareError,
    IdentityRequestError,
    IdentityTokenRejectedError,
    InvalidInputError,
    PermissionServiceError,
    RateLimitedError,
)

__all__ = [
    "RETRIED_ERRORS",
    "AccessAPI",
    "AclAPI",
    "RegistryAPI",
    "ResourceRecord",
    "ShareAPI",
    "accessible",
    "call",
    "classify",
    "deregister_resource",
    "lookup_resource",
    "parse_access",
    "register_resource",
    "resource_acl",
    "share",
    "status_of",
    "token_rejected",
]

RETRIED_ERRORS: Final = (httpx.ReadError, httpx.RemoteProtocolError)
"""Transport errors of a pooled connection the server closed: retried once if idempotent."""


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error (``SentinelError.status_code``), or ``None``."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _response(exc: BaseException) -> httpx.Response | None:
    # The SDK raises SentinelError from the httpx.HTTPStatusError that holds the response.
    response = getattr(exc.__cause__, "response", None)
    return response if isinstance(response, httpx.Response) else None


def token_rejected(exc: BaseException) -> bool:
    """Whether a 401 of the identity service is about the user's token, not the service key.

    Sentinel answers 401 for both; its ``detail`` names the service key when that is
    at fault ("Invalid or missing service API key", "Service key required"). Without a
    readable detail the 401 is not blamed on the user (a misconfiguration stays a 503).
    """
    if status_of(exc) != 401:
        return False
    response = _response(exc)
    if response is None:
        return False
    try:
        detail = response.json().get("detail")
    except ValueError:
        return False
    return isinstance(detail, str) and "service" not in detail.lower()


def _retry_after(exc: BaseException) -> float | None:
    response = _response(exc)
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def classify(exc: BaseException, what: str) -> PermissionServiceError:
    """The typed error for a failed call to the identity service.

    ``what`` names the call as a noun phrase, e.g. ``"the lookup of document <id>"``.
    """
    status = status_of(exc)
    if status in (400, 422):
        return IdentityRequestError(
            f"the identity service refused {what} as invalid (HTTP {status}); nothing was "
            f"changed. For a share: the grantee must be a member (user) or a group of the "
            f"resource's workspace",
            status_code=status,
        )
    if token_rejected(exc):
        return IdentityTokenRejectedError(
            f"the identity service rejected the caller's token on {what} (HTTP 401: revoked, "
            f"user deactivated, or issued by another Sentinel); sign in again",
            status_code=401,
        )
    if status == 429:
        retry_after = _retry_after(exc)
        hint = f" after {retry_after:g}s" if retry_after is not None else " later"
        return RateLimitedError(
            f"the identity service rate-limited {what} (HTTP 429); the request was refused, "
            f"retry{hint}",
            retry_after=retry_after,
        )
    if status is not None:
        return PermissionServiceError(
            f"the identity service failed {what}: HTTP {status}; the request was refused "
            f"(fail closed)",
            status_code=status,
        )
    return PermissionServiceError(
        f"the identity service failed {what}: {type(exc).__name__}: {exc}; the request was "
        f"refused (fail closed)"
    )


async def call[T](
    what: str,
    make_call: Callable[[], Awaitable[T]],
    *,
    time_limit: float,
    idempotent: bool,
    missing_ok: bool = False,
) -> T | None:
    """Run ``make_call()`` against the identity service; fail closed with a typed error.

    ``make_call`` is called again (once) when the call is ``idempotent`` and failed
    with one of :data:`RETRIED_ERRORS`. With ``missing_ok`` a 404 returns ``None``.
    Each attempt is bounded by ``time_limit`` seconds.
    """
    attempts = 2 if idempotent else 1
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(make_call(), timeout=time_limit)
        except RETRIED_ERRORS as exc:
            if attempt + 1 < attempts:
                continue
            raise classify(exc, what) from exc
        except TimeoutError as exc:
            raise PermissionServiceError(
                f"the identity service did not answer {what} within {time_limit}s; the "
                f"request was refused (fail closed)"
            ) from exc
        except Exception as exc:
            if missing_ok and status_of(exc) == 404:
                return None
            raise classify(exc, what) from exc
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- the SDK's shape


class AccessAPI(Protocol):
    """What :func:`accessible` needs: ``sentinel_auth.RequestAuth`` has it."""

    async def accessible(
        self, resource_type: str, action: str, limit: int | None = None
    ) -> tuple[list[uuid.UUID], bool]:
        """``POST /permissions/accessible`` with the caller's token."""
        ...


class AclAPI(Protocol):
    """What :func:`resource_acl` needs: ``RequestAuth`` and ``PermissionClient`` have it."""

    async def get_resource_acl(self, resource_type: str, resource_id: uuid.UUID) -> Any:
        """``GET /permissions/resource/{service}/{type}/{id}``."""
        ...


class RegistryAPI(AclAPI, Protocol):
    """The part of ``sentinel_auth.PermissionClient`` that registers resources."""

    async def register_resource(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        workspace_id: uuid.UUID,
        owner_id: uuid.UUID,
        visibility: str = "workspace",
    ) -> Any:
        """``POST /permissions/register``."""
        ...

    async def deregister_resource(self, resource_type: str, resource_id: uuid.UUID) -> Any:
        """``DELETE /permissions/resource/{service}/{type}/{id}``."""
        ...


class ShareAPI(AclAPI, Protocol):
    """What :func:`share` needs: ``sentinel_auth.RequestAuth`` has both methods."""

    async def share(
        self,
        resource_type: str,
        resource_id: uuid.UUID,
        grantee_type: str,
        grantee_id: uuid.UUID,
        permission: str = "view",
    ) -> Any:
        """``POST /permissions/{id}/share`` with the caller's token."""
        ...


# --------------------------------------------------------------------------- accessible


async def accessible(
    auth: AccessAPI, resource_type: str, action: Action, *, time_limit: float
) -> Access:
    """What the caller may ``action`` on ``resource_type``: the one ``accessible()`` call.

    Any failure, a timeout after ``time_limit`` seconds, or an answer that is not
    ``(list of UUIDs, bool)`` raises :class:`PermissionServiceError` (typed as in the
    module docstring); a broken pooled connection is retried once (the call is a read).
    """
    answer = await call(
        f"accessible({resource_type!r}, {action!r})",
        lambda: auth.accessible(resource_type, action),
        time_limit=time_limit,
        idempotent=True,
    )
    return parse_access(action, answer)


def parse_access(action: Action, answer: object) -> Access:
    """An ``accessible()`` answer as :class:`~sentinel_vectors.access.Access`; fail closed."""
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


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    """The identity service's record of a resource (ids in canonical string form).

    ``owner_id`` is ``None`` when the owner's user was deleted (Sentinel keeps the
    resource with ``owner_id: null``); only workspace admins may then re-index or
    delete it. A record without ``owner_id`` is read the same way (the stricter reading).
    """

    resource_id: str
    workspace_id: str
    owner_id: str | None
    visibility: str

    @classmethod
    def from_acl(cls, data: Mapping[str, Any]) -> ResourceRecord:
        """Parse the JSON of ``GET /permissions/resource/...`` or ``POST .../register``."""
        try:
            owner = data.get("owner_id")
            return cls(
                resource_id=canonical_uuid(data["resource_id"], what="resource_id"),
                workspace_id=canonical_uuid(data["workspace_id"], what="workspace_id"),
                owner_id=None if owner is None else canonical_uuid(owner, what="owner_id"),
                visibility=str(data.get("visibility", "")),
            )
        except (KeyError, TypeError, AttributeError, InvalidInputError) as exc:
            raise PermissionServiceError(
                f"the identity service answered a resource record without valid ids: {exc}; "
                f"refused (fail closed)"
            ) from exc


async def resource_acl(
    api: AclAPI, resource_type: str, resource_id: str, *, time_limit: float
) -> Mapping[str, Any] | None:
    """The one ``get_resource_acl`` call: the ACL JSON, or ``None`` if not registered (404).

    Every other failure, and an answer that is not a JSON object, raises
    :class:`PermissionServiceError` (typed as in the module docstring). Retried once on a
    broken pooled connection.
    """
    key = uuid.UUID(resource_id)

    async def ask() -> tuple[Any]:
        # Boxed, so that an answer of None is told apart from the None of a 404.
        return (await api.get_resource_acl(resource_type, key),)

    boxed = await call(
        f"the lookup of {resource_type} {resource_id}",
        ask,
        time_limit=time_limit,
        idempotent=True,
        missing_ok=True,
    )
    if boxed is None:
        return None
    answer = boxed[0]
    if not isinstance(answer, Mapping):
        raise PermissionServiceError(
            f"the identity service answered the lookup of {resource_type} {resource_id} with "
            f"{type(answer).__name__}, not a resource record; refused (fail closed)"
        )
    return answer


async def lookup_resource(
    api: AclAPI, resource_type: str, resource_id: str, *, time_limit: float
) -> ResourceRecord | None:
    """The resource's record, or ``None`` if it is not registered (404); fail closed.

    A record of another resource than the one asked for is a malformed answer
    (:class:`PermissionServiceError`), never a record to act on.
    """
    rid = canonical_uuid(resource_id, what="resource_id")
    data = await resource_acl(api, resource_type, rid, time_limit=time_limit)
    if data is None:
        return None
    record = ResourceRecord.from_acl(data)
    if record.resource_id != rid:
        raise PermissionServiceError(
            f"the identity service answered the lookup of {resource_type} {rid} with the "
            f"record of another resource; refused (fail closed)"
        )
    return record


async def register_resource(
    api: RegistryAPI,
    resource_type: str,
    resource_id: str,
    *,
    workspace_id: str,
    owner_id: str,
    visibility: str,
    time_limit: float,
) -> ResourceRecord:
    """Register a resource (an existing record is returned unchanged); fail closed.

    A service that answers 409 for a resource registered already (rather than returning
    its record) is handled alike: the existing record is looked up and returned, and the
    caller decides whether it is theirs.
    """
    rid = canonical_uuid(resource_id, what="resource_id")
    try:
        data = await call(
            f"the registration of {resource_type} {rid}",
            lambda: api.register_resource(
                resource_type=resource_type,
                resource_id=uuid.UUID(rid),
                workspace_id=uuid.UUID(workspace_id),
                owner_id=uuid.UUID(owner_id),
                visibility=visibility,
            ),
            time_limit=time_limit,
            idempotent=True,
        )
    except PermissionServiceError as exc:
        if exc.status_code != 409:
            raise
        existing = await lookup_resource(api, resource_type, rid, time_limit=time_limit)
        if existing is None:
            raise
        return existing
    if not isinstance(data, Mapping):
        raise PermissionServiceError("the identity service answered register with no record")
    return ResourceRecord.from_acl(data)


async def deregister_resource(
    api: RegistryAPI, resource_type: str, resource_id: str, *, time_limit: float
) -> bool:
    """Deregister a resource; ``False`` if it was not registered (404). Not retried."""
    rid = canonical_uuid(resource_id, what="resource_id")

    async def ask() -> bool:
        await api.deregister_resource(resource_type, uuid.UUID(rid))
        return True

    done = await call(
        f"the deregistration of {resource_type} {rid}",
        ask,
        time_limit=time_limit,
        idempotent=False,  # a retried DELETE that had succeeded would read as "not found"
        missing_ok=True,
    )
    return done is not None


# --------------------------------------------------------------------------- share


async def share(
    auth: ShareAPI,
    resource_type: str,
    resource_id: uuid.UUID,
    grantee_type: str,
    grantee_id: uuid.UUID,
    permission: str = "view",
    *,
    time_limit: float = 5.0,
) -> None:
    """Share a resource through the SDK, with Sentinel's answers told apart.

    Raises :class:`DuplicateShareError` when the grantee already has a share (Sentinel
    answers 500 and keeps the old one), :class:`IdentityRequestError` for a grantee
    that is not a member or group of the resource's workspace,
    :class:`RateLimitedError` for a 429, and :class:`PermissionServiceError` for an
    outage. Sentinel's own 403 (not the owner or an admin) and 404 (unknown resource)
    are raised as the SDK raised them (``sentinel_auth.SentinelError``). Not retried:
    a share is not idempotent.
    """
    target = f"the share of {resource_type} {resource_id}"
    try:
        await asyncio.wait_for(
            auth.share(resource_type, resource_id, grantee_type, grantee_id, permission),
            timeout=time_limit,
        )
    except Exception as exc:
        status = status_of(exc)
        if status in (403, 404) or (status == 401 and not token_rejected(exc)):
            raise
        if status == 500 and await _has_share(
            auth, resource_type, resource_id, grantee_type, grantee_id, time_limit
        ):
            raise DuplicateShareError(
                f"{grantee_type} {grantee_id} already has a share on {resource_type} "
                f"{resource_id}; the identity service keeps one share per grantee and "
                f"left it unchanged. To change the permission, unshare first, then share.",
                status_code=409,
            ) from exc
        if isinstance(exc, TimeoutError):
            raise PermissionServiceError(
                f"the identity service did not answer {target} within {time_limit}s; the "
                f"share may or may not have been made"
            ) from exc
        raise classify(exc, target) from exc


async def _has_share(
    auth: ShareAPI,
    resource_type: str,
    resource_id: uuid.UUID,
    grantee_type: str,
    grantee_id: uuid.UUID,
    time_limit: float,
) -> bool:
    try:
        acl = await resource_acl(auth, resource_type, str(resource_id), time_limit=time_limit)
    except PermissionServiceError:
        return False  # cannot tell: report the 500 as what it is, an outage
    shares = acl.get("shares") if acl is not None else None
    return any(
        isinstance(s, Mapping)
        and s.get("grantee_type") == grantee_type
        and str(s.get("grantee_id")) == str(grantee_id)
        for s in shares or ()
    )
