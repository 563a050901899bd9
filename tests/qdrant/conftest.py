"""Qdrant fixtures: a fresh collection per test, on local mode and edge always, a server on demand.

``edge`` is :func:`sentinel_vectors_qdrant.edge.open_edge_client` (Qdrant's own engine
in-process, payload indexes and all) under :class:`ScopedQdrantClient`, ``edge-sync`` the
same under :class:`SyncScopedQdrantClient` (the invariant tests only, see
:data:`EDGE_SYNC_MODULES`). ``local`` and ``local-async`` are ``QdrantClient(":memory:")`` and
``AsyncQdrantClient(":memory:")``; ``local-sync`` is ``QdrantClient(":memory:")`` under
:class:`SyncScopedQdrantClient` (see :func:`tests.qdrant.world.scoped`): real Qdrant
semantics in process (local mode ignores
payload indexes and its ``MatchAny`` is slow, so data stays small). ``server`` and
``server-async`` run the same tests against ``QDRANT_URL`` (e.g. the service in
``docker-compose.test.yml``) and are skipped when it is not set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.testing.conformance import DIM as KIT_DIM
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors_qdrant import ensure_collection
from sentinel_vectors_qdrant.edge import EdgeQdrantClient, open_edge_client

QDRANT_URL = os.environ.get("QDRANT_URL", "")
# The kit's world dimension (its vec() and NEAR): 4.
DIM = KIT_DIM

_needs_server = pytest.mark.skipif(not QDRANT_URL, reason="QDRANT_URL is not set")
CLIENT_KINDS = [
    pytest.param("local", id="local"),
    pytest.param("local-async", id="local-async"),
    pytest.param("local-sync", id="local-sync"),
    pytest.param("edge", id="edge"),
    pytest.param("edge-sync", id="edge-sync"),
    pytest.param("server", id="server", marks=_needs_server),
    pytest.param("server-async", id="server-async", marks=_needs_server),
]


# Edge syncs its files on every index creation and close: on a RAM disk that is free
# (about 20 ms per collection instead of 600 ms on this machine's disk).
EDGE_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def edge_client() -> EdgeQdrantClient:
    """A qdrant-edge client in its own temporary directory (removed by ``close()``)."""
    return open_edge_client(max_search_threads=1, tmp_dir=EDGE_TMP)


# The sync form on edge runs the invariant tests only: the blocking driver is the same on
# every store (``local-sync`` runs it everywhere) and ``edge`` runs every module on the
# engine, so repeating the rest as ``edge-sync`` would cost CI time and prove nothing new.
EDGE_SYNC_MODULES = frozenset({"test_invariants.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``edge-sync`` tests outside :data:`EDGE_SYNC_MODULES`."""
    here = Path(__file__).parent
    dropped = [
        item
        for item in items
        if "[edge-sync" in item.nodeid
        and item.path.parent == here
        and item.path.name not in EDGE_SYNC_MODULES
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(map(id, dropped))
        items[:] = [item for item in items if id(item) not in gone]


def make_client(kind: str) -> QdrantClient | AsyncQdrantClient:
    """A native client of one kind (local mode in memory, edge in a fresh temporary
    directory, or the ``QDRANT_URL`` server)."""
    if kind in ("edge", "edge-sync"):
        return edge_client()
    if kind in ("local", "local-sync"):
        return QdrantClient(":memory:")
    if kind == "local-async":
        return AsyncQdrantClient(":memory:")
    if kind == "server":
        return QdrantClient(url=QDRANT_URL, timeout=30)
    return AsyncQdrantClient(url=QDRANT_URL, timeout=30)


async def native(client: QdrantClient | AsyncQdrantClient, method: str, **kwargs: Any) -> Any:
    """Call the native client directly (outside any scope), sync or async."""
    result = getattr(client, method)(**kwargs)
    if isinstance(client, AsyncQdrantClient):
        return await result
    return result


@dataclass
class Store:
    """A fresh collection and the native client that holds it."""

    client: QdrantClient | AsyncQdrantClient
    name: str
    kind: str

    async def native(self, method: str, **kwargs: Any) -> Any:
        """A native call on this collection (``collection_name`` is filled in)."""
        return await native(self.client, method, collection_name=self.name, **kwargs)

    async def points(self) -> list[models.Record]:
        """Every stored point, with payload and vectors, as Qdrant holds it."""
        records, _ = await self.native("scroll", limit=10_000, with_payload=True, with_vectors=True)
        return sorted(records, key=lambda r: str(r.id))


async def _make_store(
    kind: str,
    vectors_config: Any,
    sparse: dict[str, models.SparseVectorParams] | None = None,
) -> Store:
    client = make_client(kind)
    name = f"t-{uuid.uuid4().hex[:12]}"
    await ensure_collection(client, name, vectors_config, sparse_vectors_config=sparse)
    # A server facets and groups only indexed keys (local mode ignores the index).
    await native(
        client,
        "create_payload_index",
        collection_name=name,
        field_name="topic",
        field_schema=models.PayloadSchemaType.KEYWORD,
    )
    return Store(client, name, kind)


async def _drop(store: Store) -> None:
    await native(store.client, "delete_collection", collection_name=store.name)
    await native(store.client, "close")


@pytest.fixture(params=CLIENT_KINDS)
async def qdrant(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh collection with one unnamed cosine vector of size ``DIM``."""
    store = await _make_store(
        request.param, models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    yield store
    await _drop(store)


@pytest.fixture(params=CLIENT_KINDS)
async def qdrant_named(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh collection: named dense ``text`` (size 4) and ``title`` (2), sparse ``bm25``."""
    store = await _make_store(
        request.param,
        {
            "text": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            "title": models.VectorParams(size=2, distance=models.Distance.EUCLID),
        },
        sparse={"bm25": models.SparseVectorParams()},
    )
    yield store
    await _drop(store)


@pytest.fixture
async def tenancy(sentinel_emulator_clean: RunningEmulator) -> AsyncIterator[Tenancy]:
    """Members and resources on a clean emulator, with one real PermissionClient."""
    client = sentinel_emulator_clean.permission_client()
    yield Tenancy(sentinel_emulator_clean, client)
    await client.close()  # type: ignore[no-untyped-call]
