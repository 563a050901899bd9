"""LangChain's own standard tests for vector stores, on the scoped store, on real backends.

``langchain_tests.integration_tests.VectorStoreIntegrationTests`` (sync and async) runs
against :class:`SentinelVectorStore` on the session's ``chroma run`` server, Qdrant's
local mode, Qdrant's own engine embedded (qdrant-edge) and the session's PostgreSQL +
pgvector. One collection per backend for the module; each test gets a fresh workspace
(a new editor and the resource its documents belong to, registered with the emulator),
so the store is empty *as the caller sees it* while earlier tests' records stay in the
collection: the scope alone keeps them out.

The documents of the standard tests carry no resource id; the store is bound to the
test's resource (``resource_id=``) and shows documents without it, as written. Sync
tests reach the permission client's loop through a blocking portal (its own
``PermissionClient`` and, on pgvector, its own engine); async tests run on the session
loop with another client.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from langchain_tests.integration_tests.vectorstores import EMBEDDING_SIZE

from sentinel_vectors import request_auth
from sentinel_vectors.testing import make_user
from sentinel_vectors_langchain import SentinelVectorStore
from tests.rag.conftest import STANDARD_DIM, Clients

assert EMBEDDING_SIZE == STANDARD_DIM  # the module's collections are made for it


def _scoped_store(
    request: pytest.FixtureRequest, clients: Clients, backend: Any, portal_backend: Any
) -> SentinelVectorStore:
    """A fresh workspace's editor, its resource, and the store bound to that resource."""
    running = clients.running
    workspace = uuid.uuid4()
    user, token = make_user(running.keys, workspace_id=workspace, role="editor")
    resource = uuid.uuid4()
    running.emulator.register("document", resource, workspace, user.user_id, "private")
    embeddings = VectorStoreIntegrationTests.get_embeddings()
    if inspect.iscoroutinefunction(request.function):
        auth = request_auth(user, token, clients.async_)
        return SentinelVectorStore.from_backend(
            backend, auth, embeddings=embeddings, resource_id=resource
        )
    auth = request_auth(user, token, clients.sync)
    return SentinelVectorStore.from_backend(
        portal_backend, auth, embeddings=embeddings, resource_id=resource, portal=clients.portal
    )


class TestChroma(VectorStoreIntegrationTests):
    """The standard tests on the session's Chroma server."""

    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, request: pytest.FixtureRequest, clients: Clients, chroma_backend: Any
    ) -> SentinelVectorStore:
        return _scoped_store(request, clients, chroma_backend, chroma_backend)


class TestQdrantLocal(VectorStoreIntegrationTests):
    """The standard tests on Qdrant's local mode (``AsyncQdrantClient(":memory:")``)."""

    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, request: pytest.FixtureRequest, clients: Clients, qdrant_backend: Any
    ) -> SentinelVectorStore:
        return _scoped_store(request, clients, qdrant_backend, qdrant_backend)


class TestQdrantEdge(VectorStoreIntegrationTests):
    """The standard tests on Qdrant's own engine, embedded (qdrant-edge)."""

    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, request: pytest.FixtureRequest, clients: Clients, qdrant_edge_backend: Any
    ) -> SentinelVectorStore:
        return _scoped_store(request, clients, qdrant_edge_backend, qdrant_edge_backend)


class TestPgvector(VectorStoreIntegrationTests):
    """The standard tests on the session's PostgreSQL + pgvector."""

    @pytest.fixture
    def vectorstore(  # type: ignore[override]
        self, request: pytest.FixtureRequest, clients: Clients, pg_backends: tuple[Any, Any]
    ) -> SentinelVectorStore:
        return _scoped_store(request, clients, *pg_backends)
