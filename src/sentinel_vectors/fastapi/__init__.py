"""FastAPI integration: a store scoped to the request with one ``Depends(...)``.

- :class:`VectorStores`: the app's named stores, built once in the lifespan with the
  app's ``PermissionClient`` and one backend per collection
  (:class:`~sentinel_vectors.binding.StoreBackend`, e.g.
  ``sentinel_vectors_chroma.ChromaBackend``), installed on ``app.state``.
- :func:`scoped_store`, :func:`scoped_index`, :func:`resource_lifecycle`: dependencies
  that build the backend's scoped wrapper, the backend-neutral chunk index, or the
  resource lifecycle from the request's ``RequestAuth`` (the SDK's
  ``get_request_auth_factory`` by default, or your ``Sentinel.get_auth``).
- :func:`add_exception_handlers`: the suite's errors as 503 / 403 / 422 answers in the
  SDK's ``{"detail": ...}`` style.

See ``docs/fastapi.md``.
"""

from sentinel_vectors.fastapi.errors import add_exception_handlers, status_for
from sentinel_vectors.fastapi.stores import (
    STATE_ATTR,
    VectorStores,
    get_vector_stores,
    request_auth,
    resource_lifecycle,
    scoped_index,
    scoped_store,
)

__all__ = [
    "STATE_ATTR",
    "VectorStores",
    "add_exception_handlers",
    "get_vector_stores",
    "request_auth",
    "resource_lifecycle",
    "scoped_index",
    "scoped_store",
    "status_for",
]
