"""Chroma fixtures: one fresh native collection per test, on three kinds of client.

``http`` and ``async-http`` talk to a real ``chroma run`` server; ``local`` is the
in-process PersistentClient. Collections are created with ``embedding_function=None``:
Chroma's default embedder would download a model.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import chromadb
import pytest

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.chroma import ChromaServer


@pytest.fixture(params=["http", "async-http", "local"])
async def chroma_collection(
    request: pytest.FixtureRequest,
    chroma_http: ChromaServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Any]:
    """A fresh, empty native Chroma collection (sync or async client)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    if request.param == "async-http":
        aclient = await chromadb.AsyncHttpClient(host=chroma_http.host, port=chroma_http.port)
        collection = await aclient.create_collection(name, embedding_function=None)
        yield collection
        await aclient.delete_collection(name)
        return
    if request.param == "http":
        client: Any = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    else:
        client = chromadb.PersistentClient(path=str(tmp_path_factory.mktemp("chroma-local")))
    yield client.create_collection(name, embedding_function=None)
    client.delete_collection(name)


@pytest.fixture
async def tenancy(sentinel_emulator_clean: RunningEmulator) -> AsyncIterator[Tenancy]:
    """Members and resources on a clean emulator, with one real PermissionClient."""
    client = sentinel_emulator_clean.permission_client()
    yield Tenancy(sentinel_emulator_clean, client)
    await client.close()
