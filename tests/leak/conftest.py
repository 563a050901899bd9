"""The leak harness's backends. A backend joins by adding one fixture name below.

The fixture returns an object implementing ``sentinel_vectors.testing.leak.LeakBackend``;
define it in ``tests/leak/<backend>_backend.py`` and import it here. Its methods run in a
fresh event loop per example (``asyncio.run``), so create loop-bound clients (async
clients, async engines) inside ``fresh()``, not in the fixture.
"""

from __future__ import annotations

import pytest

from tests.leak.chroma_backend import (
    leak_chroma_http,
    leak_chroma_local,
    leak_chroma_per_tenant,
    leak_chroma_tiered,
)
from tests.leak.pgvector_backend import (
    leak_pgvector,
    leak_pgvector_hnsw,
    leak_pgvector_per_tenant,
    leak_pgvector_tiered,
)
from tests.leak.qdrant_backend import (
    leak_qdrant_edge,
    leak_qdrant_local,
    leak_qdrant_server,
    leak_qdrant_server_per_tenant,
    leak_qdrant_server_tiered,
)
from tests.leak.rag_backend import leak_langchain_chroma, leak_llamaindex_chroma

LEAK_BACKENDS = [
    "leak_chroma_http",
    "leak_chroma_local",
    "leak_chroma_per_tenant",  # in the first half (reads.py): balances the two workers
    "leak_qdrant_local",
    "leak_qdrant_edge",
    "leak_qdrant_server",
    "leak_qdrant_server_per_tenant",
    "leak_qdrant_server_tiered",
    "leak_pgvector",
    "leak_pgvector_hnsw",
    "leak_pgvector_tiered",
    "leak_langchain_chroma",
    "leak_llamaindex_chroma",
    "leak_chroma_tiered",
    "leak_pgvector_per_tenant",
]

__all__ = [
    "LEAK_BACKENDS",
    "leak_chroma_http",
    "leak_chroma_local",
    "leak_chroma_per_tenant",
    "leak_chroma_tiered",
    "leak_langchain_chroma",
    "leak_llamaindex_chroma",
    "leak_pgvector",
    "leak_pgvector_hnsw",
    "leak_pgvector_per_tenant",
    "leak_pgvector_tiered",
    "leak_qdrant_edge",
    "leak_qdrant_local",
    "leak_qdrant_server",
    "leak_qdrant_server_per_tenant",
    "leak_qdrant_server_tiered",
]


WRITE_BACKENDS = [
    "leak_chroma_http",
    "leak_qdrant_local",
    "leak_qdrant_edge",
    "leak_qdrant_server",
    "leak_qdrant_server_per_tenant",
    "leak_qdrant_server_tiered",
    "leak_pgvector",
    "leak_chroma_per_tenant",
]
"""The backends of the write side (the retrievers write through these same bindings)."""


@pytest.fixture(params=WRITE_BACKENDS)
def write_backend(request: pytest.FixtureRequest) -> object:
    """Every backend of the write side, in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=LEAK_BACKENDS)
def leak_backend(request: pytest.FixtureRequest) -> object:
    """Every backend that joined the harness, in turn."""
    return request.getfixturevalue(request.param)
