"""Typed errors raised by sentinel-vectors.

Every error says what went wrong and what the caller should do about it. All of them
derive from :class:`SentinelVectorsError`, so one ``except`` clause catches the suite's
errors without catching the backend's own.

Any error raised before a write reaches the backend means nothing was written.
"""

from __future__ import annotations

import sys

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "DimensionMismatchError",
    "DuplicateShareError",
    "FilterError",
    "IdentityRequestError",
    "IdentityTokenRejectedError",
    "InvalidInputError",
    "MissingAuthError",
    "MissingResourceError",
    "PermissionServiceError",
    "PlacementError",
    "RateLimitedError",
    "ReservedKeyError",
    "SentinelVectorsError",
    "StoreUnavailableError",
    "UnsupportedError",
    "WriteConflictError",
    "is_store_outage",
]


class SentinelVectorsError(Exception):
    """Base class of every error raised by sentinel-vectors."""

    rule: str | None = None
    """The rule that refused the call, as its audit event names it (see
    :class:`sentinel_vectors.events.RefusalEvent`); ``None``: named by the error type."""


class MissingAuthError(SentinelVectorsError, TypeError):
    """A scoped store was built without an auth context (``auth`` was ``None``).

    Pass the request's ``sentinel_auth.RequestAuth`` (or any object satisfying
    :class:`sentinel_vectors.AuthContext`). There is no unscoped mode.
    """


class PermissionServiceError(SentinelVectorsError):
    """The permission service failed, timed out or answered something malformed.

    The read or write was refused rather than run unfiltered (fail closed). Retry
    later, or surface it to the client as 503.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AccessDeniedError(SentinelVectorsError):
    """The caller may not perform this write (or reach these records).

    Nothing was written. The message names the resource or record and the access
    that was missing.
    """


class InvalidInputError(SentinelVectorsError, ValueError):
    """Arguments are malformed: wrong types, mismatched lengths, duplicate ids, ...

    Nothing was written. Fix the call as the message says.
    """


class DimensionMismatchError(InvalidInputError):
    """An embedding's length differs from the collection's dimension.

    Nothing was written. Use the same embedding model for writes and queries.
    """


class FilterError(InvalidInputError):
    """A filter is malformed: unknown operator, bad value type, empty list, ...

    See :mod:`sentinel_vectors.filters` for the supported operators.
    """


class ReservedKeyError(InvalidInputError):
    """A caller filter or metadata value touches a key the tenancy layer owns.

    ``workspace_id``, ``owner_id`` and the resource key are stamped from the scope.
    Filters may not name them (the scope already constrains them); metadata may carry
    them only with the values the scope would stamp.
    """


class MissingResourceError(InvalidInputError):
    """A record to write names no resource (its metadata lacks the resource key).

    Raised by the framework-native vector stores before anything is written: every
    record belongs to a Sentinel resource, taken from the document's metadata (or the
    store's ``resource_id``), never guessed.
    """


class UnsupportedError(InvalidInputError):
    """The store's engine cannot do what was asked (a call, an argument, a filter form).

    Raised instead of dropping what the engine cannot express (a dropped filter condition
    would widen a read). Nothing was read or written. ``store`` names the engine
    (``"qdrant-edge"``, ...); use another call, or a server that supports it.
    """

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class WriteConflictError(SentinelVectorsError):
    """A record changed between a write's check and the store applying it (invariant 10).

    Another writer created or changed one of the records after the write rule allowed
    this write; the store refused to apply it over that record and the whole batch was
    rolled back (restored, on Chroma): nothing was written. Read again and retry.
    """


class StoreUnavailableError(SentinelVectorsError):
    """The vector store (or a model download the store started) could not be reached.

    Raised by the scoped wrappers in place of the store client's transport error
    (connection refused, timeout, DNS, a dropped connection), so that a store outage is
    not mistaken for an identity-service outage. ``store`` names the store
    (``"chroma"``, ``"qdrant"``, ...). A write that failed this way may or may not have
    been applied by the store; retry it (writes by id converge).
    """

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class PlacementError(StoreUnavailableError):
    """The store has no place yet for the caller's own workspace.

    Raised under a per-tenant placement (``sentinel_vectors.placement``) when the
    workspace's partition, shard or collection has not been created: nothing was written.
    Onboard the workspace (for pgvector, ``create_workspace_partition``) and retry. Only
    the caller's own workspace is ever named, so it tells nothing about anyone else's.
    """


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) is a transport failure talking to a store.

    Recognises ``httpx.TransportError`` (Chroma's HTTP clients, qdrant-client's REST
    client, Chroma's embedding-model download), ``ConnectionError`` and ``TimeoutError``,
    also when wrapped (``__cause__``, ``__context__`` or qdrant-client's ``source``).
    """
    # An httpx error can only exist once httpx is loaded: this leaf module does not import
    # it (the decision layers import errors and must not depend on an HTTP client).
    httpx = sys.modules.get("httpx")
    transport: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    if httpx is not None:
        transport += (httpx.TransportError,)
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, transport):
            return True
        source = getattr(cur, "source", None)
        todo.extend(
            [cur.__cause__, cur.__context__, source if isinstance(source, BaseException) else None]
        )
    return False


# --- What the identity service answered, when it is not an outage -----------------------
# Subclasses of PermissionServiceError: the request was refused all the same (fail closed)
# and ``except PermissionServiceError`` still catches them; what differs is whose
# mistake it is and what to do. ``sentinel_vectors.fastapi`` answers 400, 429 and 409
# for them instead of 503.


class IdentityRequestError(PermissionServiceError):
    """The identity service refused the request as invalid (HTTP 400/422): a client mistake.

    For a share: the grantee user is not a member of the resource's workspace, or the
    group is not one of its groups (or the id is unknown). Nothing was changed; fix
    the request. Not an outage: retrying the same request fails the same way.
    """


class RateLimitedError(PermissionServiceError):
    """The identity service rate-limited this client (HTTP 429). Retryable.

    ``retry_after`` is the service's ``Retry-After`` in seconds (``None`` if it sent
    none). The Sentinel service allows 30 requests per minute per client address by
    default (``RATE_LIMIT_RPM``); a service calling it for every request needs more.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after = retry_after


class DuplicateShareError(PermissionServiceError):
    """The grantee already has a share on this resource.

    Sentinel keeps one share per grantee and answers a second one, even with another
    permission, with HTTP 500 (a unique-key violation) and leaves the first share
    unchanged. To change a permission, unshare first, then share again.
    """


class IdentityTokenRejectedError(PermissionServiceError):
    """The identity service rejected the caller's token (HTTP 401), not the service key.

    The token passed the service's own signature check (``JWTAuthMiddleware``) but Sentinel
    refused it: revoked (logout), its user deactivated, or not issued by this Sentinel
    (``iss``). Nothing was read or written; the caller must sign in again.
    """


class AuditError(SentinelVectorsError):
    """Fail-closed auditing could not record a read, so the read was refused.

    Raised only when the auditor was built with ``fail_closed=True``
    (:class:`sentinel_vectors.audit.Auditor`): the audit queue was full, a sink failed,
    or the sinks did not confirm in time. Nothing of the read is returned. The message
    names no record; the cause is logged on ``sentinel_vectors.audit``.
    """
