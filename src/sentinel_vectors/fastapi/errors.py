"""Exception handlers: the suite's errors (and the SDK's) as HTTP answers in ``{"detail": ...}``.

=========================================  ======  ==========================================
Error                                      Status  Why
=========================================  ======  ==========================================
``IdentityRequestError``                   400     the identity service refused the request
                                                   as invalid (e.g. share to a non-member)
``DuplicateShareError``                    409     the grantee already has a share: unshare
                                                   first, then share
``IdentityTokenRejectedError``             401     the identity service rejected the user's
                                                   token (revoked, deactivated user)
``RateLimitedError``                       429     the identity service rate-limited us;
                                                   ``Retry-After`` says when to retry
``PermissionServiceError`` (other)         503     the permission service failed or timed
                                                   out; the read or write was refused
``StoreUnavailableError``                  503     the vector store could not be reached
                                                   (its own message: not the identity service)
``AuditError``                             503     fail-closed auditing could not record a
                                                   read, so it was refused (its own message)
``ResourceNotFoundError``                  404     no such resource for this caller: unknown,
                                                   another workspace's, or not visible
``AccessDeniedError`` (and                 403     the caller may not write or reach that
``ResourceConflictError``)                         resource
``WriteConflictError``                     409     a concurrent write changed a record
                                                   first; nothing was written, retry
``InvalidInputError`` (``ReservedKey``,    422     the request is malformed: reserved key,
``Filter``, ``DimensionMismatch`` ...)             bad filter, bad vector
other ``SentinelVectorsError``             500     a configuration error (e.g. no auth)
``sentinel_auth.SentinelError``            400,    what the identity service said, for 400,
(routes calling the SDK directly)          403,    403, 404, 409 and 429 (with its
                                           404,    ``Retry-After``); anything else is the
                                           409,    service being unavailable or
                                           429,    misconfigured
                                           or 503
``httpx.TransportError``                   503     the identity service is unreachable
=========================================  ======  ==========================================

503 answers carry ``Retry-After: 1``, 429 answers the identity service's ``Retry-After``
(1 if it sent none). The bodies keep the suite's messages for 400, 403, 409 and 422 (they
name the key, filter or resource at fault and contain no data of other tenants); 429,
503 and 500 bodies are generic and the details go to the log.
"""

from __future__ import annotations

import logging
import math
from typing import Final

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sentinel_auth.types import SentinelError

from sentinel_vectors.errors import (
    AccessDeniedError,
    AuditError,
    DuplicateShareError,
    IdentityRequestError,
    IdentityTokenRejectedError,
    InvalidInputError,
    PermissionServiceError,
    RateLimitedError,
    SentinelVectorsError,
    StoreUnavailableError,
    WriteConflictError,
)
from sentinel_vectors.identity import status_of, token_rejected
from sentinel_vectors.lifecycle import ResourceNotFoundError

__all__ = ["ERRORS_LOGGER", "add_exception_handlers", "status_for"]

ERRORS_LOGGER: Final = "sentinel_vectors.fastapi"
"""Logger of the errors turned into 5xx answers (with their full message)."""

_log = logging.getLogger(ERRORS_LOGGER)

_UNAVAILABLE = "The permission service is unavailable; the request was refused. Retry later."
_IDENTITY_UNAVAILABLE = "The identity service is unavailable or refused the request. Retry later."
_STORE_UNAVAILABLE = "The vector store is unavailable; the request was refused. Retry later."
_RATE_LIMITED = "The identity service is rate-limiting requests. Retry after Retry-After."
_PASSED_THROUGH: Final = frozenset({400, 403, 404, 409, 429})


def status_for(exc: BaseException) -> int:
    """The HTTP status the handlers answer for ``exc``."""
    if isinstance(exc, IdentityRequestError):
        return 400
    if isinstance(exc, IdentityTokenRejectedError):
        return 401
    if isinstance(exc, DuplicateShareError):
        return 409
    if isinstance(exc, RateLimitedError):
        return 429
    if isinstance(exc, PermissionServiceError | StoreUnavailableError | AuditError):
        return 503
    if isinstance(exc, ResourceNotFoundError):
        return 404
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, WriteConflictError):
        return 409
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, SentinelVectorsError):
        return 500
    if isinstance(exc, SentinelError):
        if token_rejected(exc):
            return 401
        return exc.status_code if exc.status_code in _PASSED_THROUGH else 503
    if isinstance(exc, httpx.TransportError):
        return 503
    return 500


def _retry_after(exc: BaseException) -> str:
    seconds = exc.retry_after if isinstance(exc, RateLimitedError) else None
    if seconds is None and status_of(exc) == 429:
        # A raw SentinelError: its cause (httpx.HTTPStatusError) holds the response.
        response = getattr(exc.__cause__, "response", None)
        header = response.headers.get("Retry-After") if response is not None else None
        try:
            seconds = float(header) if header is not None else None
        except ValueError:
            seconds = None
    return str(max(1, math.ceil(seconds))) if seconds is not None else "1"


def _detail(exc: BaseException, status: int) -> str:
    if isinstance(exc, StoreUnavailableError):
        return _STORE_UNAVAILABLE
    if isinstance(exc, AuditError):
        return "The audit trail is unavailable, so the read was refused; retry later"
    if status == 429:
        return _RATE_LIMITED
    if status == 401:
        return "The identity service rejected the token; sign in again"
    if isinstance(exc, SentinelVectorsError):
        if status == 503:
            return _UNAVAILABLE
        if status == 500:
            return "The vector store is misconfigured."
        return str(exc)
    if status == 400:
        return "The identity service refused the request as invalid"
    if status == 403:
        return "Denied by the identity service"
    if status == 404:
        return "Not found in the identity service"
    if status == 409:
        return "Conflict in the identity service"
    return _IDENTITY_UNAVAILABLE


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        _log.warning(
            "%s %s answered %d: %s: %s",
            request.method,
            request.url.path,
            status,
            type(exc).__name__,
            exc,
            extra={"event": "sentinel_vectors.http_error", "status": status},
        )
    headers: dict[str, str] | None = None
    if status == 503:
        headers = {"Retry-After": "1"}
    elif status == 429:
        headers = {"Retry-After": _retry_after(exc)}
    elif status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": _detail(exc, status)}, status_code=status, headers=headers)


def add_exception_handlers(app: FastAPI, *, sdk_errors: bool = True) -> None:
    """Answer the suite's errors (and, with ``sdk_errors``, the SDK's) as in the table above.

    ``sdk_errors`` also maps ``sentinel_auth.SentinelError`` and ``httpx.TransportError``
    raised by routes that call the SDK themselves (``auth.share(...)``).
    """
    app.add_exception_handler(SentinelVectorsError, _handle)
    if sdk_errors:
        app.add_exception_handler(SentinelError, _handle)
        app.add_exception_handler(httpx.TransportError, _handle)
