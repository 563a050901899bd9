"""The sync form: ``SyncScopedQdrantClient`` is the same operations under the blocking driver.

The invariant tests run it too (the ``local-sync`` store kind, see ``tests/qdrant/world.py``);
these tests cover what only the sync form has.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from anyio.lowlevel import current_token
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ScopedQdrantClient, SyncScopedQdrantClient, ensure_collection
from tests.qdrant.conftest import DIM, Store
from tests.qdrant.world import NEAR, UUID_ID, World


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.isfunction(member)
    }


def test_sync_and_async_clients_have_the_same_methods_and_signatures() -> None:
    sync, run = _public(SyncScopedQdrantClient), _public(ScopedQdrantClient)
    assert sync.keys() == run.keys()
    for name, signature in sync.items():
        assert signature == run[name], name
        assert not inspect.iscoroutinefunction(getattr(SyncScopedQdrantClient, name))
        assert inspect.iscoroutinefunction(getattr(ScopedQdrantClient, name))


async def test_sync_client_refuses_an_async_native_client(tenancy: Tenancy) -> None:
    world = World(tenancy)
    client = AsyncQdrantClient(":memory:")
    with pytest.raises(InvalidInputError, match="ScopedQdrantClient"):
        SyncScopedQdrantClient(client, world.viewer.auth, resource_type="document")  # type: ignore[arg-type]
    await client.close()


async def test_sync_client_on_the_event_loop_thread_is_refused(tenancy: Tenancy) -> None:
    # Blocking here would block the loop that must answer the permission question.
    world = World(tenancy)
    client = QdrantClient(":memory:")
    await ensure_collection(
        client, "docs", models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    docs = SyncScopedQdrantClient(client, world.viewer.auth, resource_type="document")
    with pytest.raises(InvalidInputError, match="event loop thread"):
        docs.query_points("docs", query=NEAR)
    with pytest.raises(InvalidInputError, match="event loop thread"):
        docs.count("docs")
    client.close()


async def test_sync_client_from_a_plain_thread_reaches_the_loop_with_its_token(
    tenancy: Tenancy,
) -> None:
    # A thread the loop did not start (a worker pool of a sync library): with the loop's
    # token the permission questions are answered there, and the read is scoped.
    world = World(tenancy)
    client = QdrantClient(":memory:")
    store = Store(client, "docs", "local")
    await ensure_collection(
        client, "docs", models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    await world.load(store)
    viewer = SyncScopedQdrantClient(
        client, world.viewer.auth, resource_type="document", loop_token=current_token()
    )
    hits = await asyncio.to_thread(lambda: viewer.query_points("docs", query=NEAR, limit=10))
    assert sorted(str(p.id) for p in hits.points) == sorted(map(str, [2, 3, UUID_ID]))
    count = await asyncio.to_thread(lambda: viewer.count("docs"))
    assert count.count == 3
    # Without the token that thread has no way to the loop: refused, nothing read.
    lost = SyncScopedQdrantClient(client, world.viewer.auth, resource_type="document")
    with pytest.raises(InvalidInputError, match="loop_token"):
        await asyncio.to_thread(lambda: lost.query_points("docs", query=NEAR))
    client.close()
