"""Store bindings: what the neutral views need of a store, and nothing store-specific.

A :class:`StoreBackend` is configured once (at start-up) with a native client or
collection, and builds, for each request's auth context:

- :meth:`~StoreBackend.scoped`: the backend's own scoped wrapper, with the native method
  names (``ScopedCollection`` for Chroma, ``ScopedQdrantClient`` for Qdrant);
- :meth:`~StoreBackend.index`: the backend-neutral :class:`~sentinel_vectors.index.ChunkIndex`
  over that wrapper, which :class:`~sentinel_vectors.lifecycle.ResourceLifecycle` and
  backend-agnostic routes use.

This module holds only the protocol. Each binding lives in its adapter distribution
(the core imports no adapter and no store client; ``docs/architecture.md``)::

    from sentinel_vectors_chroma import ChromaBackend
    from sentinel_vectors_qdrant import QdrantBackend
    from sentinel_vectors_pgvector import PgvectorBackend

A new backend is one class with these two methods and a ``resource_type`` (and,
optionally, an ``async def check() -> list[StartupProblem]`` for start-up checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.index import ChunkIndex

__all__ = ["StartupProblem", "StoreBackend"]

S_co = TypeVar("S_co", covariant=True)


@runtime_checkable
class StoreBackend(Protocol[S_co]):
    """Builds a caller's scoped store (native-shaped) and chunk index for one collection."""

    @property
    def resource_type(self) -> str:
        """The Sentinel resource type of the records' parents (``"document"``)."""
        ...

    def scoped(self, auth: AuthContext) -> S_co:
        """The backend's scoped wrapper for ``auth`` (native method names)."""
        ...

    def index(self, auth: AuthContext) -> ChunkIndex:
        """The backend-neutral chunk index for ``auth``, over :meth:`scoped`."""
        ...


@dataclass(frozen=True)
class StartupProblem:
    """What a backend's ``check()`` found wrong with its store at start-up.

    ``fatal`` problems make every request of that store fail (a missing collection or
    table): :meth:`sentinel_vectors.fastapi.VectorStores.check` refuses to start.
    The others degrade it (a missing Qdrant tenant index: correct but slow) and are
    logged as warnings.
    """

    message: str
    fatal: bool = True
