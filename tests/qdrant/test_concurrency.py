"""One scoped client used by concurrent calls on several collections.

A ``ScopedQdrantClient`` names the collection per call, so calls running at the same time
on two collections must not share per-call state: each audit event names the collection
its own read ran on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter

import pytest
from qdrant_client import models

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ensure_collection
from tests.qdrant.conftest import DIM, Store, native
from tests.qdrant.world import NEAR, World, scoped


async def test_concurrent_reads_on_two_collections_audit_their_own_collection(
    tenancy: Tenancy, qdrant: Store, caplog: pytest.LogCaptureFixture
) -> None:
    other = Store(qdrant.client, f"t-{uuid.uuid4().hex[:12]}", qdrant.kind)
    await ensure_collection(
        qdrant.client, other.name, models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    try:
        world = World(tenancy)
        await world.load(qdrant)
        await world.load(other)
        docs = scoped(qdrant, world.viewer)
        rounds = 4
        with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
            await asyncio.gather(
                *(
                    call
                    for _ in range(rounds)
                    for store in (qdrant, other)
                    for call in (
                        docs.query_points(store.name, query=NEAR, limit=3),
                        docs.scroll(store.name, limit=10),
                        docs.count(store.name),
                        docs.retrieve(store.name, [1, 2, 3]),
                    )
                )
            )
        events = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
        labelled = Counter(getattr(r, "collection", None) for r in events)
        assert labelled == {qdrant.name: 4 * rounds, other.name: 4 * rounds}
        assert docs.violations == 0
    finally:
        await native(qdrant.client, "delete_collection", collection_name=other.name)
