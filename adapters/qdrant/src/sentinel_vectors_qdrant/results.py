"""What the scoped client returns besides the native result types.

:class:`ScopedQueryResponse` is a ``QueryResponse`` with the read's ``complete`` flag;
:func:`completed` is the ``UpdateResult`` of a write that had nothing to send.
"""

from __future__ import annotations

from pydantic import PrivateAttr
from qdrant_client import models
from qdrant_client.http.models import QueryResponse

__all__ = ["ScopedQueryResponse", "completed"]


class ScopedQueryResponse(QueryResponse):
    """``QueryResponse`` plus the read's :attr:`complete` flag.

    A subclass: ``points`` and ``model_dump()`` are exactly the native response's. The
    flag is ``False`` only when a forced ``postfilter`` read could not fill ``limit``
    within its over-fetch (see :mod:`sentinel_vectors.strategy`).
    """

    _complete: bool = PrivateAttr(default=True)

    @property
    def complete(self) -> bool:
        """Whether the read could not have missed hits the caller may view."""
        return self._complete

    @classmethod
    def of(cls, points: list[models.ScoredPoint], *, complete: bool = True) -> ScopedQueryResponse:
        """A response holding ``points``."""
        out = cls(points=points)
        out._complete = complete
        return out


def completed() -> models.UpdateResult:
    """The result of a write with nothing to send (as Qdrant answers a finished write)."""
    return models.UpdateResult(operation_id=None, status=models.UpdateStatus.COMPLETED)
