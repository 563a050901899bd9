"""The Qdrant backends of the leak harness: local mode and qdrant-edge always, a server
with ``QDRANT_URL``.

Edge runs fewer examples (``LEAK_EDGE_EXAMPLES``, default 20) to keep CI's budget: the
generated worlds are the same, the engine is the part under test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from qdrant_client import QdrantClient, models

from sentinel_vectors.filters import Filter
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.leak import Chunk, Metric
from sentinel_vectors_qdrant import QdrantBackend, ScopedQdrantClient, ensure_collection
from tests.qdrant.conftest import edge_client
from tests.qdrant.placed import Onboarding, PlacedQdrantBackend

EDGE_LEAK_EXAMPLES = int(os.environ.get("LEAK_EDGE_EXAMPLES", "20"))

# Harness chunk ids are arbitrary strings; Qdrant point ids are integers or UUIDs.
_IDS = uuid.UUID("0b7e1f0c-2a64-4a55-9d3e-5f7f0d1e2c3b")


@dataclass
class Handle:
    """One example's collection and the harness ids of its points."""

    name: str
    chunk_ids: dict[str, str] = field(default_factory=dict)
    onboarding: Onboarding | None = None


class QdrantLeakBackend:
    """Writes and reads through ``ScopedQdrantClient`` over a sync ``QdrantClient``.

    ``exact``: local mode searches by brute force, and every example is far below a
    server's full-scan threshold; ``SearchParams(exact=True)`` makes sure of it.
    """

    exact = True
    metric: Metric = "l2"
    max_examples: int | None = None
    """Caps the harness's examples for this backend (``None``: ``LEAK_EXAMPLES``)."""

    def __init__(self, name: str, client: QdrantClient, placement: Placement | None = None) -> None:
        self.name = name
        self.client = client
        self.placement = placement

    def _scoped(self, auth: object) -> ScopedQdrantClient:
        return ScopedQdrantClient(
            self.client,
            auth,  # type: ignore[arg-type]
            resource_type="document",
            search_params=models.SearchParams(exact=True),
            placement=self.placement,
        )

    async def _onboard(self, handle: Handle, auth: object) -> None:
        """Under ``per_tenant``: the caller's workspace has its shard key (sign-up)."""
        if handle.onboarding is not None:
            await handle.onboarding.ensure(auth.workspace_id)  # type: ignore[attr-defined]

    async def fresh(self, dim: int) -> object:
        handle = Handle(f"leak-{uuid.uuid4().hex[:12]}")
        await ensure_collection(
            self.client,
            handle.name,
            models.VectorParams(size=dim, distance=models.Distance.EUCLID),
            placement=self.placement,
        )
        if self.placement is not None:
            handle.onboarding = Onboarding(self.client, handle.name, self.placement)
        return handle

    async def write(self, handle: object, auth: object, chunks: Sequence[Chunk]) -> None:
        assert isinstance(handle, Handle)
        await self._onboard(handle, auth)
        points = []
        for c in chunks:
            pid = str(uuid.uuid5(_IDS, c.chunk_id))
            handle.chunk_ids[pid] = c.chunk_id
            points.append(
                models.PointStruct(
                    id=pid,
                    vector=list(c.vector),
                    payload={**c.metadata, "owner_id": c.resource.owner_id},
                )
            )
        await self._scoped(auth).upsert(handle.name, points)

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        assert isinstance(handle, Handle)
        await self._onboard(handle, auth)
        hits = await self._scoped(auth).query_points(
            handle.name, query=list(query), limit=k, query_filter=flt, with_payload=False
        )
        return [handle.chunk_ids[str(p.id)] for p in hits.points]

    async def listing(self, handle: object, auth: object, flt: Filter | None) -> list[str]:
        assert isinstance(handle, Handle)
        await self._onboard(handle, auth)
        records, _ = await self._scoped(auth).scroll(
            handle.name, scroll_filter=flt, limit=10_000, with_payload=False
        )
        # Points the write side wrote ("<resource>:<i>") come back as they were written.
        return [handle.chunk_ids.get(str(r.id), str(r.id)) for r in records]

    def binding(self, handle: object) -> QdrantBackend:
        assert isinstance(handle, Handle)
        if self.placement is not None:
            return PlacedQdrantBackend(
                self.client, handle.name, self.placement, resource_type="document"
            )
        return QdrantBackend(self.client, handle.name, resource_type="document")

    async def drop(self, handle: object) -> None:
        assert isinstance(handle, Handle)
        self.client.delete_collection(handle.name)


@pytest.fixture
def leak_qdrant_local() -> Iterator[QdrantLeakBackend]:
    """Qdrant's local mode, in memory (``QdrantClient(":memory:")``)."""
    client = QdrantClient(":memory:")
    yield QdrantLeakBackend("qdrant-local", client)
    client.close()


@pytest.fixture
def leak_qdrant_edge() -> Iterator[QdrantLeakBackend]:
    """Qdrant's own engine in-process (qdrant-edge), a temporary directory on a RAM disk."""
    client = edge_client()
    backend = QdrantLeakBackend("qdrant-edge", client)
    backend.max_examples = EDGE_LEAK_EXAMPLES
    yield backend
    client.close()


@pytest.fixture
def leak_qdrant_server() -> Iterator[QdrantLeakBackend]:
    """A real Qdrant server at ``QDRANT_URL`` (skipped when it is not set)."""
    url = os.environ.get("QDRANT_URL", "")
    if not url:
        pytest.skip("QDRANT_URL is not set")
    client = QdrantClient(url=url, timeout=30)
    yield QdrantLeakBackend("qdrant-server", client)
    client.close()


def _server_placed(mode: str) -> Iterator[QdrantLeakBackend]:
    url = os.environ.get("QDRANT_URL", "")
    if not url:
        pytest.skip("QDRANT_URL is not set")
    client = QdrantClient(url=url, timeout=30)
    yield QdrantLeakBackend(f"qdrant-server-{mode}", client, Placement(mode))  # type: ignore[arg-type]
    client.close()


@pytest.fixture
def leak_qdrant_server_per_tenant() -> Iterator[QdrantLeakBackend]:
    """A Qdrant server, a shard key per workspace (``QDRANT_URL``; not run in CI)."""
    yield from _server_placed("per_tenant")


@pytest.fixture
def leak_qdrant_server_tiered() -> Iterator[QdrantLeakBackend]:
    """A Qdrant server, tiered: the shared fallback shard (``QDRANT_URL``; not run in CI)."""
    yield from _server_placed("tiered")
