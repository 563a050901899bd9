"""A vector-store outage is its own error and its own 503, never "identity service unavailable".

The stores are real and really unreachable: a ``chroma run`` server of this test's own,
stopped after the collection exists, and a ``qdrant-client`` pointed at a loopback port
nothing listens on. The identity service (the emulator) stays up throughout.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import chromadb
import httpx
import pytest
from fastapi import FastAPI
from qdrant_client import AsyncQdrantClient

from sentinel_vectors.errors import StoreUnavailableError
from sentinel_vectors.fastapi import add_exception_handlers
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.chroma import chroma_server
from sentinel_vectors_chroma import ScopedCollection
from sentinel_vectors_qdrant import ScopedQdrantClient

STORE_BODY = {"detail": "The vector store is unavailable; the request was refused. Retry later."}


@pytest.fixture
async def tenancy(sentinel_emulator: RunningEmulator) -> AsyncIterator[Tenancy]:
    """Members whose RequestAuth talks to the (running) emulator."""
    client = sentinel_emulator.permission_client()
    try:
        yield Tenancy(sentinel_emulator, client)
    finally:
        await client.close()


async def _answer(exc: Exception) -> httpx.Response:
    """What ``add_exception_handlers`` answers when a route raises ``exc``."""
    app = FastAPI()
    add_exception_handlers(app)

    @app.get("/search")
    async def search() -> None:
        raise exc

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get("/search")


async def test_stopped_chroma_is_store_unavailable_not_identity(
    tenancy: Tenancy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHROMA_URL", raising=False)  # a server of our own, to stop
    ws = tenancy.workspace()
    editor = tenancy.member("editor", ws)
    with chroma_server() as server:
        client = await chromadb.AsyncHttpClient(host=server.host, port=server.port)
        collection = await client.get_or_create_collection(
            f"outage_{uuid.uuid4().hex}", embedding_function=None
        )
    # The server is stopped now; the permission service still answers.
    docs = ScopedCollection(collection, editor.auth, resource_type="document")
    with pytest.raises(StoreUnavailableError) as info:
        await docs.query(query_embeddings=[[1.0, 0.0]], n_results=3)
    assert info.value.store == "chroma"
    assert "Chroma could not be reached" in str(info.value)
    r = await _answer(info.value)
    assert r.status_code == 503
    assert r.json() == STORE_BODY
    assert r.headers["retry-after"] == "1"


async def test_unreachable_qdrant_is_store_unavailable_not_identity(tenancy: Tenancy) -> None:
    with socket.socket() as sock:  # a free port: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AsyncQdrantClient(url=f"http://127.0.0.1:{port}", timeout=2, check_compatibility=False)
    editor = tenancy.member("editor", tenancy.workspace())
    docs = ScopedQdrantClient(client, editor.auth, resource_type="document")
    with pytest.raises(StoreUnavailableError) as info:
        await docs.query_points("docs", query=[1.0, 0.0], limit=3)
    assert info.value.store == "qdrant"
    r = await _answer(info.value)
    assert r.status_code == 503
    assert r.json() == STORE_BODY
    await client.close()
