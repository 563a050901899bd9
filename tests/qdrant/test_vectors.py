"""Named, sparse and hybrid vectors through the scoped client, and ``ensure_collection``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from qdrant_client import models

from sentinel_vectors.errors import DimensionMismatchError, InvalidInputError
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection
from tests.qdrant.conftest import CLIENT_KINDS, DIM, Store, make_client, native
from tests.qdrant.world import vec


def sparse(*pairs: tuple[int, float]) -> models.SparseVector:
    return models.SparseVector(indices=[i for i, _ in pairs], values=[v for _, v in pairs])


class Hybrid:
    """Workspace A's editor writes three points; B's admin writes the nearest point of all."""

    def __init__(self, t: Tenancy, store: Store) -> None:
        self.store = store
        self.editor: Member = t.member("editor", t.workspace())
        self.outsider: Member = t.member("admin", t.workspace())
        self.doc = t.resource(self.editor, "private")
        self.b_doc = t.resource(self.outsider, "private")
        self.a = ScopedQdrantClient(store.client, self.editor.auth, resource_type="document")
        self.b = ScopedQdrantClient(store.client, self.outsider.auth, resource_type="document")

    async def load(self) -> None:
        meta = {"resource_id": self.doc}
        await self.a.upsert(
            self.store.name,
            [
                models.PointStruct(
                    id=1,
                    vector={"text": vec(1), "title": [0.0, 0.0], "bm25": sparse((1, 1.0))},
                    payload=meta,
                ),
                models.PointStruct(
                    id=2,
                    vector={"text": vec(0, 1), "title": [1.0, 1.0], "bm25": sparse((2, 1.0))},
                    payload=meta,
                ),
                models.PointStruct(id=3, vector={"text": vec(1, 1)}, payload=meta),
            ],
        )
        await self.b.upsert(
            self.store.name,
            [
                models.PointStruct(
                    id=9,
                    vector={
                        "text": vec(1),
                        "title": [0.0, 0.0],
                        "bm25": sparse((1, 5.0), (2, 5.0)),
                    },
                    payload={"resource_id": self.b_doc},
                )
            ],
        )


@pytest.fixture
async def hybrid(tenancy: Tenancy, qdrant_named: Store) -> Hybrid:
    h = Hybrid(tenancy, qdrant_named)
    await h.load()
    return h


def ids(points: list[Any]) -> list[Any]:
    return [p.id for p in points]


@pytest.mark.invariant(1)
async def test_named_dense_and_sparse_queries_stay_in_scope(hybrid: Hybrid) -> None:
    name = hybrid.store.name
    text = await hybrid.a.query_points(name, query=vec(1), using="text", limit=10)
    assert ids(text.points) == [1, 3, 2]
    title = await hybrid.a.query_points(name, query=[0.0, 0.0], using="title", limit=10)
    assert ids(title.points) == [1, 2]
    words = await hybrid.a.query_points(name, query=sparse((1, 1.0), (2, 0.5)), using="bm25")
    assert ids(words.points) == [1, 2]
    fused = await hybrid.a.query_points(
        name,
        prefetch=[
            models.Prefetch(query=vec(1), using="text", limit=5),
            models.Prefetch(query=sparse((2, 1.0)), using="bm25", limit=5),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=10,
    )
    assert sorted(ids(fused.points)) == [1, 2, 3]
    assert ids((await hybrid.b.query_points(name, query=vec(1), using="text")).points) == [9]


async def test_named_vectors_are_returned_and_updated_by_name(hybrid: Hybrid) -> None:
    name = hybrid.store.name
    (one,) = await hybrid.a.retrieve(name, [1], with_vectors=["title"])
    assert one.vector == {"title": [0.0, 0.0]}
    await hybrid.a.update_vectors(name, [models.PointVectors(id=3, vector={"title": [2.0, 2.0]})])
    await hybrid.a.delete_vectors(name, ["bm25"], [1])
    got = {r.id: r.vector for r in await hybrid.a.retrieve(name, [1, 3], with_vectors=True)}
    assert isinstance(got[1], dict)
    assert set(got[1]) == {"text", "title"}
    assert isinstance(got[3], dict)
    assert got[3]["title"] == [2.0, 2.0]
    (b_nine,) = await hybrid.b.retrieve(name, [9], with_vectors=True)
    assert isinstance(b_nine.vector, dict)
    assert set(b_nine.vector) == {"text", "title", "bm25"}


@pytest.mark.parametrize(
    ("vector", "error"),
    [
        (vec(1), InvalidInputError),  # unnamed vector, the collection has only named ones
        ({"text": vec(1), "nope": vec(1)}, InvalidInputError),
        ({"title": [1.0, 2.0, 3.0]}, DimensionMismatchError),
        ({"text": sparse((1, 1.0))}, InvalidInputError),
        ({"bm25": vec(1)}, InvalidInputError),
        ({"bm25": models.SparseVector(indices=[1, 1], values=[1.0, 2.0])}, InvalidInputError),
        ({"bm25": models.SparseVector(indices=[1, 2], values=[1.0])}, InvalidInputError),
        ({"bm25": models.SparseVector(indices=[-1], values=[1.0])}, InvalidInputError),
    ],
)
async def test_bad_named_or_sparse_vectors_write_nothing(
    hybrid: Hybrid, vector: Any, error: type[Exception]
) -> None:
    before = await hybrid.store.points()
    ok = models.PointStruct(id=20, vector={"text": vec(1)}, payload={"resource_id": hybrid.doc})
    bad = models.PointStruct.model_construct(
        id=21, vector=vector, payload={"resource_id": hybrid.doc}
    )
    with pytest.raises(error):
        await hybrid.a.upsert(hybrid.store.name, [ok, bad])
    assert await hybrid.store.points() == before


async def test_bad_named_queries_are_refused(hybrid: Hybrid) -> None:
    name = hybrid.store.name
    with pytest.raises(InvalidInputError):
        await hybrid.a.query_points(name, query=vec(1))  # no `using` on a named-only collection
    with pytest.raises(DimensionMismatchError):
        await hybrid.a.query_points(name, query=vec(1), using="title")
    with pytest.raises(InvalidInputError):
        await hybrid.a.query_points(name, query=vec(1), using="bm25")
    with pytest.raises(InvalidInputError):
        await hybrid.a.query_points(name, query=sparse((1, 1.0)), using="text")


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_ensure_collection_creates_a_tenant_ready_collection_once(kind: str) -> None:
    client = make_client(kind)
    name = f"t-{uuid.uuid4().hex[:12]}"
    params = models.VectorParams(size=DIM, distance=models.Distance.DOT)
    try:
        assert await ensure_collection(client, name, params, payload_m=8, index_owner=True)
        assert not await ensure_collection(client, name, params)
        info = await native(client, "get_collection", collection_name=name)
        assert info.config.params.vectors == params
        if kind.startswith("server"):  # local mode keeps neither payload indexes nor HNSW
            assert info.config.hnsw_config.payload_m == 8
            assert info.config.hnsw_config.m == 0
            schema = info.payload_schema
            assert schema["workspace_id"].params.is_tenant is True
            assert {"workspace_id", "resource_id", "owner_id"} <= set(schema)
    finally:
        await native(client, "delete_collection", collection_name=name)
        await native(client, "close")
    with pytest.raises(InvalidInputError):
        await ensure_collection(client, "x", params, resource_key="workspace_id")
    with pytest.raises(InvalidInputError):
        await ensure_collection(object(), "x", params)  # type: ignore[arg-type]
