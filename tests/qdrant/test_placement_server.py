"""Qdrant placement on a real server (``QDRANT_URL``): shard keys, fallback routing, promotion.

Skipped without ``QDRANT_URL``, so **not run in this repository's CI** (no Qdrant server
can be installed there): written against Qdrant's API and documentation (1.16+ tiered
multitenancy), to be run with the server of ``docker-compose.test.yml``. The promotion
test also needs the server in cluster mode (``QDRANT__CLUSTER__ENABLED=true``: shard
transfers), and skips itself otherwise. What CI proves is the requests the scoped
clients send (``tests/qdrant/test_placement.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, models

from sentinel_vectors.errors import PlacementError, ReservedKeyError
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.conformance import Member, Tenancy, vec
from sentinel_vectors_qdrant import (
    SHARED_SHARD_KEY,
    ScopedQdrantClient,
    create_workspace_shard,
    ensure_collection,
    promote_workspace,
)
from sentinel_vectors_qdrant.promotion import tenant_filter
from tests.qdrant.placed import QDRANT_URL, needs_server

pytestmark = needs_server

DIM = 4


@pytest.fixture
async def server() -> AsyncIterator[AsyncQdrantClient]:
    client = AsyncQdrantClient(url=QDRANT_URL, timeout=60)
    yield client
    await client.close()


async def _collection(client: AsyncQdrantClient, mode: str) -> str:
    name = f"placed-{mode}-{uuid.uuid4().hex[:8]}"
    params = models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    await ensure_collection(client, name, params, placement=Placement(mode))  # type: ignore[arg-type]
    return name


def _scoped(client: AsyncQdrantClient, member: Member, mode: str) -> ScopedQdrantClient:
    return ScopedQdrantClient(
        client,
        member.auth,
        resource_type="document",
        placement=Placement(mode),  # type: ignore[arg-type]
    )


def _points(resource: str, ids: range) -> list[models.PointStruct]:
    return [
        models.PointStruct(id=i, vector=vec(1.0, i / 1000), payload={"resource_id": resource})
        for i in ids
    ]


async def _in_shard(client: AsyncQdrantClient, name: str, key: Any, ws: object) -> int:
    """The workspace's points in one shard key, counted natively (no scope)."""
    got = await client.count(
        name, count_filter=tenant_filter(str(ws)), exact=True, shard_key_selector=key
    )
    return got.count


@pytest.mark.invariant(1)
async def test_invariant_1_per_tenant_points_live_in_the_workspace_shard(
    server: AsyncQdrantClient, tenancy: Tenancy
) -> None:
    name = await _collection(server, "per_tenant")
    try:
        ws_a, ws_b = tenancy.workspace(), tenancy.workspace()
        alice, bob = tenancy.member("admin", ws_a), tenancy.member("admin", ws_b)
        a, b = _scoped(server, alice, "per_tenant"), _scoped(server, bob, "per_tenant")
        # Before onboarding, the workspace has no place: a typed error naming only its own.
        with pytest.raises(PlacementError, match=str(ws_a)):
            await a.upsert(name, _points(tenancy.resource(alice), range(1, 3)))
        assert await create_workspace_shard(server, name, str(ws_a)) is True
        assert await create_workspace_shard(server, name, str(ws_b)) is True
        await a.upsert(name, _points(tenancy.resource(alice), range(1, 6)))
        await b.upsert(name, _points(tenancy.resource(bob), range(1, 3)))
        assert await _in_shard(server, name, str(ws_a), ws_a) == 5
        assert await _in_shard(server, name, str(ws_b), ws_a) == 0
        assert (await a.count(name)).count == 5
        assert (await b.count(name)).count == 2
        with pytest.raises(ReservedKeyError):
            await a.scroll(name, shard_key_selector=str(ws_b))
        with pytest.raises(ReservedKeyError):
            await a.delete(name, models.FilterSelector(filter=models.Filter(), shard_key=str(ws_b)))
        assert (await b.count(name)).count == 2
    finally:
        await server.delete_collection(name)


async def test_tiered_unpromoted_workspaces_share_the_fallback_shard(
    server: AsyncQdrantClient, tenancy: Tenancy
) -> None:
    name = await _collection(server, "tiered")
    try:
        ws = tenancy.workspace()
        owner = tenancy.member("admin", ws)
        docs = _scoped(server, owner, "tiered")
        await docs.upsert(name, _points(tenancy.resource(owner), range(1, 4)))
        assert await _in_shard(server, name, SHARED_SHARD_KEY, ws) == 3
        assert (await docs.count(name)).count == 3
        # No shard key of its own: the workspace has nothing outside the fallback shard.
        states = await server.collection_cluster_info(name)
        assert {str(s.shard_key) for s in states.local_shards} == {SHARED_SHARD_KEY}
    finally:
        await server.delete_collection(name)


async def _cluster_enabled(client: AsyncQdrantClient) -> bool:
    try:
        status = await client.cluster_status()
    except Exception:
        return False
    return getattr(status, "status", "") == "enabled"


async def test_promotion_is_online_nothing_lost_reads_never_see_neither_or_both(
    server: AsyncQdrantClient, tenancy: Tenancy
) -> None:
    if not await _cluster_enabled(server):
        pytest.skip("promotion (Qdrant's shard transfer) needs a server in cluster mode")
    name = await _collection(server, "tiered")
    try:
        big_ws, small_ws = tenancy.workspace(), tenancy.workspace()
        big, small = tenancy.member("admin", big_ws), tenancy.member("admin", small_ws)
        big_res, small_res = tenancy.resource(big), tenancy.resource(small)
        await _scoped(server, big, "tiered").upsert(name, _points(big_res, range(1, 2001)))
        await _scoped(server, small, "tiered").upsert(name, _points(small_res, range(1, 51)))
        committed = {"big": set(range(1, 2001)), "small": set(range(1, 51))}
        stop = asyncio.Event()
        problems: list[str] = []

        async def writer(key: str, member: Member, res: str, start: int) -> None:
            i = start
            while not stop.is_set():
                await _scoped(server, tenancy.fresh(member), "tiered").upsert(
                    name, _points(res, range(i, i + 5))
                )
                committed[key] |= set(range(i, i + 5))
                i += 5

        async def reader(key: str, member: Member) -> None:
            while not stop.is_set():
                before = set(committed[key])
                docs = _scoped(server, tenancy.fresh(member), "tiered")
                records, _ = await docs.scroll(name, limit=100_000, with_payload=False)
                ids = [int(r.id) for r in records]  # type: ignore[arg-type]
                if len(ids) != len(set(ids)):
                    problems.append(f"{key}: a point read twice (both shards)")
                if not before <= set(ids):
                    problems.append(f"{key}: {len(before - set(ids))} committed points missing")
                await asyncio.sleep(0)

        tasks = [
            asyncio.create_task(writer("big", big, big_res, 10_000)),
            asyncio.create_task(writer("small", small, small_res, 10_000)),
            asyncio.create_task(reader("big", big)),
            asyncio.create_task(reader("small", small)),
        ]
        moved = await promote_workspace(server, name, str(big_ws), poll_interval=0.2)
        await asyncio.sleep(0.5)  # reads and writes after the switch, too
        stop.set()
        await asyncio.gather(*tasks)
        assert problems == []
        assert moved >= 2000
        # Nothing lost: every committed point of the big workspace is in its own shard,
        # none is left in the fallback; the small workspace did not move.
        assert await _in_shard(server, name, str(big_ws), big_ws) == len(committed["big"])
        assert await _in_shard(server, name, SHARED_SHARD_KEY, big_ws) == 0
        assert await _in_shard(server, name, SHARED_SHARD_KEY, small_ws) == len(committed["small"])
        records, _ = await _scoped(server, big, "tiered").scroll(name, limit=100_000)
        assert {int(r.id) for r in records} == committed["big"]  # type: ignore[arg-type]
        # Idempotent.
        assert await promote_workspace(server, name, str(big_ws)) == 0
    finally:
        await server.delete_collection(name)
