"""Typed errors raised by sentinel-vectors.

Every error says what went wrong and what the caller should do about it. All of them
derive from :class:`SentinelVectorsError`, so one ``except`` clause catches the suite's
errors without catching the backend's own.

Any error raised before a write reaches the backend means nothing was written.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "DimensionMismatchError",
    "FilterError",
    "InvalidInputError",
    "MissingAuthError",
    "PermissionServiceError",
    "ReservedKeyError",
    "SentinelVectorsError",
    "StoreUnavailableError",
    "WriteConflictError",
    "is_store_outage",
]


class SentinelVectorsError(Exception):
    """Base class of every error raised by sentinel-vectors."""


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


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) is a transport failure talking to a store.

    Recognises ``httpx.TransportError`` (Chroma's HTTP clients, qdrant-client's REST
    client, Chroma's embedding-model download), ``ConnectionError`` and ``TimeoutError``,
    also when wrapped (``__cause__``, ``__context__`` or qdrant-client's ``source``).
    """
    import httpx  # the SDK depends on it; imported here to keep this module light

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        source = getattr(cur, "source", None)
        todo.extend(
            [cur.__cause__, cur.__context__, source if isinstance(source, BaseException) else None]
        )
    return False
