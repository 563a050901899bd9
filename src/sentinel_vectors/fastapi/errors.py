"""Exception handlers: the suite's errors (and the SDK's) as HTTP answers in ``{"detail": ...}``.

=========================================  ======  ==========================================
Error                                      Status  Why
=========================================  ======  ==========================================
``PermissionServiceError``                 503     the permission service failed or timed
                                                   out; the read or write was refused
``ResourceNotFoundError``                  404     no such resource for this caller: unknown,
                                                   another workspace's, or not visible
``AccessDeniedError`` (and                 403     the caller may not write or reach that
``ResourceConflictError``)                         resource
``InvalidInputError`` (``ReservedKey``,    422     the request is malformed: reserved key,
``Filter``, ``DimensionMismatch`` ...)             bad filter, bad vector
other ``SentinelVectorsError``             500     a configuration error (e.g. no auth)
``sentinel_auth.SentinelError``            403,    what the identity service said, for 403,
(routes calling the SDK directly)          404,    404 and 409; anything else is the service
                                           409,    being unavailable or misconfigured
                                           or 503
``httpx.TransportError``                   503     the identity service is unreachable
=========================================  ======  ==========================================

503 answers carry ``Retry-After: 1``. The bodies keep the suite's messages for 403 and
422 (they name the key, filter or resource at fault and contain no data of other
tenants); 503 and 500 bodies are generic and the details go to the log.
"""

from __future__ import annotations

import logging
from typing import Final

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sentinel_auth.types import SentinelError

from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    PermissionServiceError,
    SentinelVectorsError,
)
from sentinel_vectors.lifecycle import ResourceNotFoundError

__all__ = ["ERRORS_LOGGER", "add_exception_handlers", "status_for"]

ERRORS_LOGGER: Final = "sentinel_vectors.fastapi"
"""Logger of the errors turned into 5xx answers (with their full message)."""

_log = logging.getLogger(ERRORS_LOGGER)

_UNAVAILABLE = "The permission service is unavailable; the request was refused. Retry later."
_IDENTITY_UNAVAILABLE = "The identity service is unavailable or refused the request. Retry later."
_PASSED_THROUGH: Final = frozenset({403, 404, 409})


def status_for(exc: BaseException) -> int:
    """The HTTP status the handlers answer for ``exc``."""
    if isinstance(exc, PermissionServiceError):
        return 503
    if isinstance(exc, ResourceNotFoundError):
        return 404
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, SentinelVectorsError):
        return 500
    if isinstance(exc, SentinelError):
        return exc.status_code if exc.status_code in _PASSED_THROUGH else 503
    if isinstance(exc, httpx.TransportError):
        return 503
    return 500


def _detail(exc: BaseException, status: int) -> str:
    if isinstance(exc, SentinelVectorsError):
        if status == 503:
            return _UNAVAILABLE
        if status == 500:
            return "The vector store is misconfigured."
        return str(exc)
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
    headers = {"Retry-After": "1"} if status == 503 else None
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
