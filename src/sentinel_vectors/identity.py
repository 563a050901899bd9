"""Every call to the Sentinel identity service, and what its answers mean.

The suite calls the SDK in a few places (``Scope.access`` -> ``accessible()``,
``Scope.registered`` and ``SentinelRegistry`` -> resource ACL lookups, register and
deregister; the example service's share route). All of them go through :func:`call`,
so the rules live here once:

- **fail closed**: anything but a usable answer raises a
  :class:`~sentinel_vectors.errors.PermissionServiceError`, typed by what happened:
  :class:`~sentinel_vectors.errors.IdentityRequestError` for a 400/422 (the request
  was invalid: a client mistake, not an outage),
  :class:`~sentinel_vectors.errors.RateLimitedError` for a 429 (retryable, with the
  service's ``Retry-After``), :class:`~sentinel_vectors.errors.IdentityTokenRejectedError`
  for a 401 about the user's token (revoked, deactivated user, foreign ``iss``), a plain
  ``PermissionServiceError`` for everything else (5xx, 401/403 on the service key,
  timeouts, transport errors, malformed answers);
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
from typing import Any, Final, Protocol

import httpx

from sentinel_vectors.errors import (
    DuplicateShareError,
    IdentityRequestError,
    IdentityTokenRejectedError,
    PermissionServiceError,
    RateLimitedError,
)

__all__ = [
    "RETRIED_ERRORS",
    "ShareAPI",
    "call",
    "classify",
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


class ShareAPI(Protocol):
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

    async def get_resource_acl(self, resource_type: str, resource_id: uuid.UUID) -> Any:
        """``GET /permissions/resource/{service}/{type}/{id}``."""
        ...


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
        acl = await call(
            f"the lookup of {resource_type} {resource_id}",
            lambda: auth.get_resource_acl(resource_type, resource_id),
            time_limit=time_limit,
            idempotent=True,
        )
    except PermissionServiceError:
        return False  # cannot tell: report the 500 as what it is, an outage
    shares = acl.get("shares") if isinstance(acl, Mapping) else None
    return any(
        isinstance(s, Mapping)
        and s.get("grantee_type") == grantee_type
        and str(s.get("grantee_id")) == str(grantee_id)
        for s in shares or ()
    )
