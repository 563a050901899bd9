"""The conformance suite's read and write rules on placed Chroma bases (a real server).

``PlacedChromaBackend`` with the placement registry; about half the workspaces are
promoted into their own collections by the real promoter (``tests/chroma/tiered_world.py``),
so every rule runs across both places in one world; under ``per_tenant`` every workspace
is in its own collection. The lifecycle and bad-input rules do
not depend on placement: they run once, in ``test_chroma.py``, within the CI budget.
"""

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
    ConformanceTarget,
    ReadRules,
    WriteRules,
)
from sentinel_vectors.testing.servers import ChromaServer
from tests.chroma.tiered_world import HalfPromoted, PerTenant, PlacedWorld


class TestChromaTiered(ReadRules, WriteRules):
    """Every read and write rule on a tiered base, through ``HttpClient``."""

    pytestmark = pytest.mark.asyncio
    world: type[PlacedWorld] = HalfPromoted

    @pytest.fixture
    def backend_factory(self, chroma_http: ChromaServer) -> BackendFactory:
        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            del dimension  # Chroma learns it from the first write
            client = chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
            base = f"ct-{uuid.uuid4().hex[:10]}"
            backend = await asyncio.to_thread(self.world, client, base)

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                return await asyncio.to_thread(backend.stored, key, value)

            yield ConformanceTarget(backend, records)
            await asyncio.to_thread(backend.drop)

        return factory


class TestChromaPerTenant(TestChromaTiered):
    """Every read and write rule under ``per_tenant``: each workspace's own collection."""

    world = PerTenant
