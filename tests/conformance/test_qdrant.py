"""The conformance suite on Qdrant: local mode and qdrant-edge always, a server when
``QDRANT_URL`` is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceSuite,
    ConformanceTarget,
    LifecycleRules,
    ReadRules,
    WriteRules,
)
from sentinel_vectors_qdrant import QdrantBackend, ensure_collection
from tests.qdrant.conftest import edge_client, native
from tests.qdrant.placed import PLACEMENTS, PlacedQdrantBackend, needs_server

QDRANT_URL = os.environ.get("QDRANT_URL", "")


class TestQdrant(ConformanceSuite):
    """Every neutral rule on ``AsyncQdrantClient`` in local mode and on a server, and on a
    sync qdrant-edge ``QdrantClient`` (Qdrant's engine, payload indexes included)."""

    @pytest.fixture(
        params=[
            "local",
            "edge",
            pytest.param(
                "server",
                marks=pytest.mark.skipif(not QDRANT_URL, reason="QDRANT_URL is not set"),
            ),
        ]
    )
    def backend_factory(self, request: pytest.FixtureRequest) -> BackendFactory:
        kind = str(request.param)

        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            client: AsyncQdrantClient | QdrantClient
            if kind == "server":
                client = AsyncQdrantClient(url=QDRANT_URL, timeout=30)
            elif kind == "edge":
                # Qdrant's engine in-process; the binding runs its calls in a worker thread.
                client = edge_client()
            else:
                client = AsyncQdrantClient(":memory:")
            name = f"conf-{uuid.uuid4().hex[:12]}"
            await ensure_collection(
                client, name, models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            )

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                match = models.FieldCondition(key=key, match=models.MatchValue(value=value))
                points, _ = await native(
                    client,
                    "scroll",
                    collection_name=name,
                    scroll_filter=models.Filter(must=[match]),
                    limit=10_000,
                )
                return [dict(p.payload or {}) for p in points]

            yield ConformanceTarget(QdrantBackend(client, name, resource_type="document"), records)
            await native(client, "delete_collection", collection_name=name)
            await native(client, "close")

        return factory


@needs_server
class TestQdrantPlaced(ReadRules, WriteRules, LifecycleRules):
    """The read, write and lifecycle rules on a server, under ``per_tenant`` (a shard key
    per workspace, created at its first use) and ``tiered`` (the shared fallback shard).
    Written against the Qdrant API; not run where no server is available (CI)."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture(params=PLACEMENTS)
    def backend_factory(self, request: pytest.FixtureRequest) -> BackendFactory:
        placement = Placement(request.param)

        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            client = AsyncQdrantClient(url=QDRANT_URL, timeout=30)
            name = f"conf-{request.param}-{uuid.uuid4().hex[:8]}"
            params = models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            await ensure_collection(client, name, params, placement=placement)

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                match = models.FieldCondition(key=key, match=models.MatchValue(value=value))
                points, _ = await client.scroll(
                    name, scroll_filter=models.Filter(must=[match]), limit=10_000
                )
                return [dict(p.payload or {}) for p in points]

            backend = PlacedQdrantBackend(client, name, placement, resource_type="document")
            yield ConformanceTarget(backend, records)
            await client.delete_collection(name)
            await client.close()

        return factory
