"""Backend bindings: one small class per store that builds its scoped views per caller.

A :class:`StoreBackend` is configured once (at start-up) with a native client or
collection, and builds, for each request's auth context:

- :meth:`~StoreBackend.scoped`: the backend's own scoped wrapper, with the native method
  names (``ScopedCollection`` for Chroma, ``ScopedQdrantClient`` for Qdrant);
- :meth:`~StoreBackend.index`: the backend-neutral :class:`~sentinel_vectors.index.ChunkIndex`
  over that wrapper, which :class:`~sentinel_vectors.lifecycle.ResourceLifecycle` and
  backend-agnostic routes use.

Each binding lives in its own module, imported only when used, so a missing adapter
distribution costs nothing::

    from sentinel_vectors.backends.chroma import ChromaBackend
    from sentinel_vectors.backends.qdrant import QdrantBackend

A new backend is one class with these two methods and a ``resource_type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.index import ChunkIndex

__all__ = ["StartupProblem", "StoreBackend", "missing_adapter"]

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


def missing_adapter(exc: ModuleNotFoundError, distribution: str) -> ModuleNotFoundError:
    """The error to raise when a backend module's adapter distribution is not installed.

    Returns a ``ModuleNotFoundError`` naming the package to ``pip install`` when the
    missing module belongs to the adapter (or the store client it pulls in); returns
    ``exc`` itself for anything else, so unrelated import errors are not disguised.
    """
    adapter = distribution.replace("-", "_")
    stores = {
        "sentinel-vectors-chroma": "chromadb",
        "sentinel-vectors-qdrant": "qdrant_client",
        "sentinel-vectors-pgvector": "sqlalchemy",
    }
    root = (exc.name or "").split(".")[0]
    if root not in {adapter, stores.get(distribution)}:
        return exc
    err = ModuleNotFoundError(
        f"this backend needs the {distribution} distribution, which is not installed "
        f"(missing module {exc.name!r}): pip install {distribution}",
        name=exc.name,
    )
    return err
