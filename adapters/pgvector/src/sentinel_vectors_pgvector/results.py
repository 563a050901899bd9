"""What a scoped pgvector store returns: records, hits, and a search's hit list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Hit", "Hits", "Record"]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored chunk, as the caller may see it.

    ``metadata`` holds the caller's metadata plus the tenancy keys (``workspace_id``,
    ``owner_id`` and the resource key) as canonical UUID strings.
    """

    id: str
    document: str | None
    metadata: dict[str, Any]
    embedding: list[float] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One nearest neighbour: a :class:`Record` plus its distance to the query.

    ``distance`` is pgvector's: cosine distance, Euclidean distance, the *negative*
    inner product, or the taxicab distance. Smaller is nearer for all four.
    """

    id: str
    distance: float
    document: str | None
    metadata: dict[str, Any]
    embedding: list[float] | None = None


class Hits(list[Hit]):
    """The hits of a search: a ``list[Hit]`` plus the read's :attr:`complete` flag.

    ``complete`` is ``False`` only when a forced ``postfilter`` read could not fill ``k``
    within its over-fetch (see :mod:`sentinel_vectors.strategy`).
    """

    complete: bool = True

    @classmethod
    def of(cls, hits: Sequence[Hit], *, complete: bool = True) -> Hits:
        """A hit list with its ``complete`` flag."""
        out = cls(hits)
        out.complete = complete
        return out
