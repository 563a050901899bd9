"""The conformance suite on Chroma: a real ``chroma run`` server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import chromadb
import pytest

from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceSuite,
    ConformanceTarget,
)
from sentinel_vectors.testing.servers import ChromaServer
from sentinel_vectors_chroma import ChromaBackend


async def _native(result: Any) -> Any:
    """A native call's answer, awaited on the async client, off the loop on the sync one."""
    if asyncio.iscoroutine(result):
        return await result
    return result


class TestChroma(ConformanceSuite):
    """Every neutral rule on a Chroma server, through ``HttpClient``.

    ``AsyncHttpClient`` runs the same workflows through the async driver's other branch
    (awaited instead of offloaded to a thread); ``tests/chroma`` runs its invariant tests
    on both clients, so the kit runs once here, to keep CI under its time budget.
    """

    @pytest.fixture(params=["http"])
    def backend_factory(
        self, request: pytest.FixtureRequest, chroma_http: ChromaServer
    ) -> BackendFactory:
        kind = str(request.param)

        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            del dimension  # Chroma learns it from the first write
            if kind == "async-http":
                client: Any = await chromadb.AsyncHttpClient(
                    host=chroma_http.host, port=chroma_http.port
                )
            else:
                client = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
            name = f"conf-{uuid.uuid4().hex[:12]}"
            collection = await _native(client.create_collection(name, embedding_function=None))

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                if kind == "async-http":
                    got = await collection.get(where={key: value}, include=["metadatas"])
                else:
                    got = await asyncio.to_thread(
                        collection.get, where={key: value}, include=["metadatas"]
                    )
                return [dict(m or {}) for m in got["metadatas"]]

            yield ConformanceTarget(ChromaBackend(collection, resource_type="document"), records)
            await _native(client.delete_collection(name))

        return factory
