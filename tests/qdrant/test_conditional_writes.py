"""Invariant 10 on Qdrant: check and write are one step (issue #10, finding 5).

The native client is a real ``QdrantClient``/``AsyncQdrantClient`` whose ``upsert`` lets a
competing writer act first, deterministically: just before the scoped client's write
request, another user's point is created (or an existing point is moved to another user's
resource) under the same stored id with a raw native write. The upsert uses
``update_mode`` (``insert_only`` for ids the check found absent, ``update_only`` with an
``update_filter`` for found ones), so the competitor's point survives unchanged and the
caller gets :class:`WriteConflictError` with nothing of its batch left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors.errors import WriteConflictError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection
from sentinel_vectors_qdrant.edge import EdgeQdrantClient
from sentinel_vectors_qdrant.points import ID_KEY
from tests.qdrant.conftest import CLIENT_KINDS, DIM, EDGE_TMP, QDRANT_URL, Store
from tests.qdrant.world import vec

Competitor = Callable[[list[models.PointStruct]], "models.PointStruct | None"]


class _Race:
    """Runs ``competitor`` once, before the next upsert request (the scoped client's write)."""

    competitor: Competitor | None = None

    def _points(self, kwargs: dict[str, Any]) -> list[models.PointStruct]:
        if self.competitor is None:
            return []
        competitor, self.competitor = self.competitor, None
        point = competitor(list(kwargs["points"]))
        return [] if point is None else [point]


class RacingQdrantClient(QdrantClient, _Race):
    def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        first = self._points(kwargs)
        if first:
            super().upsert(kwargs["collection_name"], first, wait=True)
        return super().upsert(*args, **kwargs)


class RacingEdgeClient(EdgeQdrantClient, _Race):
    def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        first = self._points(kwargs)
        if first:
            super().upsert(kwargs["collection_name"], first, wait=True)
        return super().upsert(*args, **kwargs)


class RacingAsyncQdrantClient(AsyncQdrantClient, _Race):
    async def upsert(self, *args: Any, **kwargs: Any) -> models.UpdateResult:
        first = self._points(kwargs)
        if first:
            await super().upsert(kwargs["collection_name"], first, wait=True)
        return await super().upsert(*args, **kwargs)


@pytest.fixture(params=CLIENT_KINDS)
async def racing(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    kind: str = request.param
    location: dict[str, Any] = (
        {"location": ":memory:"} if kind.startswith("local") else {"url": QDRANT_URL}
    )
    client: QdrantClient | AsyncQdrantClient = (
        RacingEdgeClient(max_search_threads=1, tmp_dir=EDGE_TMP)
        if kind.startswith("edge")
        else RacingAsyncQdrantClient(**location)
        if kind.endswith("async")
        else RacingQdrantClient(**location)
    )
    name = f"t-{uuid.uuid4().hex[:12]}"
    await ensure_collection(
        client, name, models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    yield Store(client, name, kind)
    if isinstance(client, AsyncQdrantClient):
        await client.delete_collection(name)
        await client.close()
    else:
        client.delete_collection(name)
        client.close()


def _by_logical_id(points: list[models.Record]) -> dict[Any, dict[str, Any]]:
    return {(p.payload or {})[ID_KEY]: dict(p.payload or {}) for p in points}


@pytest.mark.invariant(10)
async def test_invariant_10_a_point_created_after_the_check_is_not_overwritten(
    racing: Store, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    client = ScopedQdrantClient(racing.client, alice.auth, resource_type="document")
    theirs: dict[str, Any] = {}

    def bob_writes_12(points: list[models.PointStruct]) -> models.PointStruct:
        target = next(p for p in points if (p.payload or {})[ID_KEY] == 12)
        theirs.update(
            {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id), ID_KEY: 12}
        )
        return models.PointStruct(id=target.id, vector=vec(0, 1), payload=dict(theirs))

    racing.client.competitor = bob_writes_12  # type: ignore[union-attr]
    with pytest.raises(WriteConflictError, match="nothing of this call was written"):
        await client.upsert(
            racing.name,
            [
                models.PointStruct(id=11, vector=vec(1), payload={"resource_id": mine}),
                models.PointStruct(id=12, vector=vec(1), payload={"resource_id": mine}),
            ],
        )
    assert _by_logical_id(await racing.points()) == {12: theirs}


@pytest.mark.invariant(10)
async def test_invariant_10_a_point_moved_away_after_the_check_is_not_overwritten(
    racing: Store, tenancy: Tenancy
) -> None:
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    mine, bobs = tenancy.resource(alice), tenancy.resource(bob)
    client = ScopedQdrantClient(racing.client, alice.auth, resource_type="document")
    await client.upsert(
        racing.name, [models.PointStruct(id=7, vector=vec(1), payload={"resource_id": mine})]
    )
    moved: dict[str, Any] = {}

    def bob_takes_7(points: list[models.PointStruct]) -> models.PointStruct:
        (target,) = points
        moved.update(
            {"workspace_id": str(ws), "resource_id": bobs, "owner_id": str(bob.id), ID_KEY: 7}
        )
        return models.PointStruct(id=target.id, vector=vec(0, 1), payload=dict(moved))

    racing.client.competitor = bob_takes_7  # type: ignore[union-attr]
    with pytest.raises(WriteConflictError):
        await client.upsert(
            racing.name,
            [models.PointStruct(id=7, vector=vec(1, 1), payload={"resource_id": mine, "v": 2})],
        )
    assert _by_logical_id(await racing.points()) == {7: moved}
