"""Former home of the store bindings; kept for the protocol only.

The protocol is :mod:`sentinel_vectors.binding`; the bindings themselves moved to their
adapter distributions (``from sentinel_vectors_chroma import ChromaBackend``, and
likewise ``QdrantBackend``, ``PgvectorBackend``). See ``CHANGELOG.md``.
"""

from sentinel_vectors.binding import StartupProblem, StoreBackend

__all__ = ["StartupProblem", "StoreBackend"]
