"""A failed batch leaves no partial write: what Qdrant guarantees and what the wrapper adds.

Qdrant validates a whole upsert request before applying it (a bad point anywhere writes
nothing), but separate requests are independent and a request whose response is lost may
still have been applied. The wrapper validates and authorizes every point before the first
request and, when a request fails, restores the points it replaced and removes the ones it
created. The store here is a real Qdrant whose n-th upsert request fails: a lost response
(applied, then the connection drops) or a refused request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.errors import (
    AccessDeniedError,
    DimensionMismatchError,
    StoreUnavailableError,
)
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection
from sentinel_vectors_qdrant.edge import EdgeQdrantClient
from tests.qdrant.conftest import CLIENT_KINDS, DIM, EDGE_TMP, QDRANT_URL, Store
from tests.qdrant.world import Writer, vec


class InjectedFault(ConnectionError):
    """The fault the flaky store raises."""


class Faults:
    """Which upsert request fails, and whether it was applied before failing."""

    def __init__(self) -> None:
        self.fail_on: set[int] = set()
        self.applied_first = True
        self.upserts = 0

    def before(self) -> bool:
        """Count one request; True if it is to fail without being applied."""
        self.upserts += 1
        return self.upserts in self.fail_on and not self.applied_first

    def after(self) -> None:
        if self.upserts in self.fail_on:
            raise InjectedFault(f"injected: upsert request {self.upserts} lost its connection")


class FlakyQdrantClient(QdrantClient):
    """A real QdrantClient whose chosen upsert requests fail."""

    faults: Faults

    def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        if self.faults.before():
            raise InjectedFault("injected: upsert request refused")
        result = super().upsert(*args, **kwargs)
        self.faults.after()
        return result


class FlakyEdgeClient(EdgeQdrantClient):
    """A real qdrant-edge client whose chosen upsert requests fail."""

    faults: Faults

    def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        if self.faults.before():
            raise InjectedFault("injected: upsert request refused")
        result = super().upsert(*args, **kwargs)
        self.faults.after()
        return result


class FlakyAsyncQdrantClient(AsyncQdrantClient):
    """A real AsyncQdrantClient whose chosen upsert requests fail."""

    faults: Faults

    async def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        if self.faults.before():
            raise InjectedFault("injected: upsert request refused")
        result = await super().upsert(*args, **kwargs)
        self.faults.after()
        return result


@pytest.fixture(params=CLIENT_KINDS)
async def flaky(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Store, Faults]]:
    kind: str = request.param
    location: dict[str, Any] = (
        {"location": ":memory:"} if kind.startswith("local") else {"url": QDRANT_URL}
    )
    client: QdrantClient | AsyncQdrantClient = (
        FlakyEdgeClient(max_search_threads=1, tmp_dir=EDGE_TMP)
        if kind.startswith("edge")
        else FlakyAsyncQdrantClient(**location)
        if kind.endswith("async")
        else FlakyQdrantClient(**location)
    )
    faults = Faults()
    client.faults = faults  # type: ignore[union-attr]
    name = f"t-{uuid.uuid4().hex[:12]}"
    await ensure_collection(
        client, name, models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    store = Store(client, name, kind)
    yield store, faults
    if isinstance(client, AsyncQdrantClient):
        await client.delete_collection(name)
        await client.close()
    else:
        client.delete_collection(name)
        client.close()


@pytest.fixture
async def loaded(tenancy: Tenancy, flaky: tuple[Store, Faults]) -> tuple[Writer, Faults]:
    store, faults = flaky
    writer = Writer(tenancy, store)
    await writer.client.upsert(
        store.name, [writer.point(1, vec(1), v="old"), writer.point(2, vec(0, 1), v="old")]
    )
    return writer, faults


@pytest.mark.invariant(2)
async def test_a_lost_upsert_response_is_rolled_back(loaded: tuple[Writer, Faults]) -> None:
    writer, faults = loaded
    before = await writer.store.points()
    faults.fail_on = {faults.upserts + 1}
    # A lost connection is a store outage: StoreUnavailableError, caused by the fault.
    with pytest.raises(StoreUnavailableError) as caught:
        await writer.client.upsert(
            writer.store.name,
            [writer.point(1, vec(0, 0, 1), v="new"), writer.point(3, vec(1, 1), v="new")],
        )
    assert isinstance(caught.value.__cause__, InjectedFault)
    assert "restored" in "".join(getattr(caught.value, "__notes__", []))
    assert await writer.store.points() == before


@pytest.mark.parametrize("applied_first", [True, False])
async def test_a_failed_upload_batch_rolls_back_the_batches_before_it(
    loaded: tuple[Writer, Faults], applied_first: bool
) -> None:
    writer, faults = loaded
    before = await writer.store.points()
    faults.applied_first = applied_first
    faults.fail_on = {faults.upserts + 3}  # the third batch of four
    points = [writer.point(i, vec(1, i), v="new") for i in range(1, 11)]
    with pytest.raises(StoreUnavailableError) as caught:
        await writer.client.upload_points(
            writer.store.name, points, batch_size=3, max_retries=0, wait=True
        )
    assert isinstance(caught.value.__cause__, InjectedFault)
    assert await writer.store.points() == before


async def test_upload_retries_a_failed_batch(loaded: tuple[Writer, Faults]) -> None:
    writer, faults = loaded
    faults.fail_on = {faults.upserts + 2}
    points = [writer.point(i, vec(1, i), v="new") for i in range(1, 8)]
    await writer.client.upload_points(
        writer.store.name, points, batch_size=2, max_retries=1, wait=True
    )
    stored = await writer.client.scroll(writer.store.name, limit=20)
    assert sorted(r.id for r in stored[0]) == list(range(1, 8))
    assert all(r.payload and r.payload["v"] == "new" for r in stored[0])


async def test_a_bad_point_anywhere_in_a_batch_writes_nothing(
    loaded: tuple[Writer, Faults], tenancy: Tenancy
) -> None:
    writer, faults = loaded
    before = await writer.store.points()
    sent = faults.upserts
    points = [writer.point(i, vec(1)) for i in range(3, 200)]
    points[150] = writer.point(153, [1.0, 2.0])
    with pytest.raises(DimensionMismatchError):
        await writer.client.upload_points(writer.store.name, points, batch_size=16)
    assert faults.upserts == sent  # refused before the first request
    assert await writer.store.points() == before
    stranger = tenancy.member("editor", writer.member.user.workspace_id)
    theirs = tenancy.resource(stranger, "private")
    their_client = ScopedQdrantClient(writer.store.client, stranger.auth, resource_type="document")
    await their_client.upsert(
        writer.store.name,
        [models.PointStruct(id=500, vector=vec(1), payload={"resource_id": theirs})],
    )
    before = await writer.store.points()
    sent = faults.upserts
    points = [writer.point(i, vec(1)) for i in range(3, 40)]
    points[30] = models.PointStruct(id=33, vector=vec(1), payload={"resource_id": theirs})
    with pytest.raises(AccessDeniedError):
        await writer.client.upload_points(writer.store.name, points, batch_size=16)
    with pytest.raises(AccessDeniedError):
        await their_client.upsert(
            writer.store.name,
            [
                models.PointStruct(id=501, vector=vec(1), payload={"resource_id": theirs}),
                writer.point(2, vec(1)),
            ],
        )
    assert faults.upserts == sent  # refused before the first request
    assert await writer.store.points() == before
