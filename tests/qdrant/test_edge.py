"""The qdrant-edge backend itself: its translation works around the binding's bugs, keeps
the tenant indexes, persists, and refuses what edge cannot do with a typed error.

The scoped client's behaviour on edge is proven by the rest of ``tests/qdrant`` (the
``edge`` and ``edge-sync`` store kinds); these tests pin the facade's own promises.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import models

from sentinel_vectors import filters as F
from sentinel_vectors.errors import InvalidInputError, UnsupportedError
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection
from sentinel_vectors_qdrant.edge import EdgeQdrantClient, open_edge_client
from tests.qdrant.conftest import EDGE_TMP, Store
from tests.qdrant.world import Writer, vec

COSINE4 = models.VectorParams(size=4, distance=models.Distance.COSINE)


@pytest.fixture
def client() -> Iterator[EdgeQdrantClient]:
    c = open_edge_client(max_search_threads=1, tmp_dir=EDGE_TMP)
    yield c
    c.close()


def _points() -> list[models.PointStruct]:
    return [
        models.PointStruct(id=1, vector=vec(1), payload={"flag": True, "tag": "a", "n": 1}),
        models.PointStruct(id=2, vector=vec(0, 1), payload={"flag": False, "tag": "b", "n": 2}),
        models.PointStruct(
            id=str(uuid.UUID(int=3)), vector=vec(0, 0, 1), payload={"tag": "c", "n": 3}
        ),
    ]


def _count(client: EdgeQdrantClient, cond: models.FieldCondition) -> int:
    return client.count("c", count_filter=models.Filter(must=[cond])).count


async def test_ensure_collection_creates_the_tenant_indexes_and_graph(
    client: EdgeQdrantClient,
) -> None:
    assert await ensure_collection(client, "c", COSINE4, index_owner=True)
    info = client.get_collection("c")
    schema = info.payload_schema
    workspace = schema["workspace_id"].params
    assert isinstance(workspace, models.KeywordIndexParams)
    assert workspace.is_tenant is True
    assert schema["resource_id"].data_type == models.PayloadSchemaType.KEYWORD
    assert schema["owner_id"].data_type == models.PayloadSchemaType.KEYWORD
    assert (info.config.hnsw_config.m, info.config.hnsw_config.payload_m) == (0, 16)
    assert not await ensure_collection(client, "c", COSINE4)  # exists: indexes only


def test_boolean_equality_matches_stored_booleans(client: EdgeQdrantClient) -> None:
    # The binding sends a Python bool as the integer 1/0, which matches no stored boolean.
    client.create_collection("c", COSINE4)
    client.upsert("c", _points())
    flag = "flag"
    assert _count(client, models.FieldCondition(key=flag, match=models.MatchValue(value=True))) == 1
    assert (
        _count(client, models.FieldCondition(key=flag, match=models.MatchValue(value=False))) == 1
    )
    # Also with a bool index, and where the neutral compiler puts it (must_not for ne).
    client.create_payload_index("c", flag, models.PayloadSchemaType.BOOL)
    ne_true = models.Filter(
        must_not=[models.FieldCondition(key=flag, match=models.MatchValue(value=True))]
    )
    assert client.count("c", count_filter=ne_true).count == 2


def test_match_except_any_and_ids_as_a_server_returns_them(client: EdgeQdrantClient) -> None:
    client.create_collection("c", COSINE4)
    client.upsert("c", _points())
    assert (
        _count(
            client, models.FieldCondition(key="tag", match=models.MatchExcept(**{"except": ["a"]}))
        )
        == 2
    )
    assert (
        _count(client, models.FieldCondition(key="tag", match=models.MatchAny(any=["a", "c"]))) == 2
    )
    records = client.retrieve("c", [1, str(uuid.UUID(int=3))])  # default with_payload/vectors
    assert {r.id for r in records} == {1, str(uuid.UUID(int=3))}
    assert all(isinstance(r.id, int | str) and r.payload and r.vector is None for r in records)
    page, following = client.scroll("c", limit=1)
    assert page[0].id == 1
    assert following == 2


def test_a_query_by_point_id_searches_with_its_vector_and_leaves_it_out(
    client: EdgeQdrantClient,
) -> None:
    client.create_collection("c", COSINE4)
    client.upsert("c", _points())
    hits = client.query_points("c", query=1, limit=5).points
    assert 1 not in [h.id for h in hits]
    assert len(hits) == 2
    rec = models.RecommendQuery(recommend=models.RecommendInput(positive=[1], negative=[2]))
    assert [h.id for h in client.query_points("c", query=rec, limit=1).points] == [
        str(uuid.UUID(int=3))
    ]


def test_what_edge_cannot_do_is_refused_with_a_typed_error(client: EdgeQdrantClient) -> None:
    client.create_collection("c", COSINE4)
    with pytest.raises(UnsupportedError, match="no groups API"):
        client.query_points_groups("c", group_by="tag", query=vec(1))
    with pytest.raises(UnsupportedError, match="shards by key"):
        client.query_points("c", query=vec(1), shard_key_selector="k")
    with pytest.raises(UnsupportedError, match="by key"):
        client.create_collection("d", COSINE4, sharding_method=models.ShardingMethod.CUSTOM)
    mmr = models.NearestQuery(nearest=vec(1), mmr=models.Mmr(diversity=0.5))
    with pytest.raises(UnsupportedError, match="MMR"):
        client.query_points("c", query=mmr)
    with pytest.raises(InvalidInputError, match="refused"):
        client.upsert("c", [models.PointStruct(id=9, vector=[1.0, 2.0])])  # wrong size
    assert client.count("c").count == 0


async def test_one_client_per_directory_and_data_survives_a_reopen(tmp_path: Path) -> None:
    first = open_edge_client(tmp_path / "q", max_search_threads=1)
    await ensure_collection(first, "c", COSINE4)
    first.upsert("c", _points())
    second = open_edge_client(tmp_path / "q", max_search_threads=1)
    with pytest.raises(InvalidInputError, match="refused open the shard"):
        second.count("c")
    second.close()
    first.close()
    again = open_edge_client(tmp_path / "q", max_search_threads=1)
    assert again.count("c").count == 3
    assert again.get_collection("c").payload_schema["workspace_id"].params is not None
    again.close()
    assert (tmp_path / "q" / "c").is_dir()  # a given path is kept


@pytest.mark.invariant(1)
async def test_invariant_1_a_boolean_filter_narrows_a_scoped_read_on_edge(
    client: EdgeQdrantClient, tenancy: Tenancy
) -> None:
    await ensure_collection(client, "c", COSINE4)
    writer = Writer(tenancy, Store(client, "c", "edge"))
    await writer.client.upsert(
        "c", [writer.point(1, flag=True), writer.point(2, flag=False), writer.point(3)]
    )
    scoped = ScopedQdrantClient(client, writer.member.auth, resource_type="document")
    assert (await scoped.count("c", count_filter=F.eq("flag", True))).count == 1
    assert (await scoped.count("c", count_filter=F.ne("flag", True))).count == 2


def test_the_compose_server_matches_the_client_minor_version() -> None:
    # The server QDRANT_URL tests run against must know what the client sends
    # (update_filter and update_mode need 1.16+); keep its image on the client's minor.
    from importlib.metadata import version

    compose = (Path(__file__).parents[2] / "docker-compose.test.yml").read_text()
    image = next(line for line in compose.splitlines() if "image: qdrant/qdrant:" in line)
    server = image.split(":v", 1)[1].strip().split(".")
    client = version("qdrant-client").split(".")
    assert server[:2] == client[:2], (image, version("qdrant-client"))
    assert (int(server[0]), int(server[1])) >= (1, 16)
