"""Bad input gives a typed error from ``sentinel_vectors.errors`` and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from sentinel_vectors.errors import (
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    MissingAuthError,
    ReservedKeyError,
    SentinelVectorsError,
)
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ID_KEY, ScopedQdrantClient
from tests.qdrant.conftest import Store
from tests.qdrant.world import Writer, vec


@pytest.fixture
async def writer(tenancy: Tenancy, qdrant: Store) -> Writer:
    w = Writer(tenancy, qdrant)
    await w.client.upsert(qdrant.name, [w.point(1), w.point(2, vec(0, 1))])
    return w


async def unchanged(writer: Writer, before: list[models.Record]) -> None:
    assert await writer.store.points() == before


async def test_wrong_vector_size_is_a_dimension_error_and_nothing_is_written(
    writer: Writer, qdrant: Store
) -> None:
    before = await qdrant.points()
    with pytest.raises(DimensionMismatchError):
        await writer.client.upsert(
            qdrant.name, [writer.point(3), writer.point(4, [1.0, 2.0]), writer.point(5)]
        )
    with pytest.raises(DimensionMismatchError):
        await writer.client.update_vectors(qdrant.name, [models.PointVectors(id=1, vector=[1.0])])
    with pytest.raises(DimensionMismatchError):
        await writer.client.query_points(qdrant.name, query=[1.0, 0.0])
    with pytest.raises(DimensionMismatchError):
        await writer.client.query_points(
            qdrant.name, prefetch=models.Prefetch(query=[1.0]), query=vec(1)
        )
    await unchanged(writer, before)


@pytest.mark.parametrize(
    "vector",
    [
        {"nope": vec(1)},  # unknown vector name
        [1.0, float("nan"), 0.0, 0.0],
        [1.0, "x", 0.0, 0.0],
        [],
        models.SparseVector(indices=[1], values=[1.0]),  # sparse given to a dense collection
        models.Document(text="embed me", model="some/model"),
    ],
)
async def test_bad_vectors_are_refused_and_nothing_is_written(
    writer: Writer, qdrant: Store, vector: Any
) -> None:
    before = await qdrant.points()
    with pytest.raises(InvalidInputError):
        await writer.client.upsert(qdrant.name, [writer.point(3), writer.point(4, vector)])
    await unchanged(writer, before)


async def test_unknown_vector_name_in_queries_and_deletes_is_refused(
    writer: Writer, qdrant: Store
) -> None:
    with pytest.raises(InvalidInputError, match="no vector named"):
        await writer.client.query_points(qdrant.name, query=vec(1), using="nope")
    with pytest.raises(InvalidInputError, match="no vector named"):
        await writer.client.delete_vectors(qdrant.name, ["nope"], [1])
    with pytest.raises(InvalidInputError):
        await writer.client.query_points(
            qdrant.name, query=models.Document(text="embed me", model="some/model")
        )
    with pytest.raises(InvalidInputError):
        await writer.client.query_points(
            qdrant.name,
            query=models.FormulaQuery(formula=models.SumExpression(sum=["$score", 1.0])),
        )


@pytest.mark.parametrize(
    "pid",
    ["not-a-uuid", -1, 1.5, True, 2**63, None, b"\x00" * 16, ""],
)
async def test_ids_of_the_wrong_type_are_refused(writer: Writer, qdrant: Store, pid: Any) -> None:
    before = await qdrant.points()
    with pytest.raises(InvalidInputError):
        await writer.client.upsert(qdrant.name, [writer.point(3), writer.point(pid)])
    with pytest.raises(InvalidInputError):
        await writer.client.retrieve(qdrant.name, [1, pid])
    with pytest.raises(InvalidInputError):
        await writer.client.delete(qdrant.name, [1, pid])
    with pytest.raises(InvalidInputError):
        await writer.client.scroll(qdrant.name, offset=pid if pid is not None else "x")
    await unchanged(writer, before)


async def test_mismatched_lengths_and_repeated_ids_are_refused(
    writer: Writer, qdrant: Store
) -> None:
    before = await qdrant.points()
    payload = {"resource_id": writer.doc}
    batches = [
        models.Batch(ids=[3, 4], vectors=[vec(1)], payloads=[payload, payload]),
        models.Batch(ids=[3, 4], vectors=[vec(1), vec(1)], payloads=[payload]),
        models.Batch(ids=[3], vectors=[vec(1), vec(1)]),
    ]
    for batch in batches:
        with pytest.raises(InvalidInputError, match="pass one per id"):
            await writer.client.upsert(qdrant.name, batch)
    with pytest.raises(InvalidInputError, match="repeat"):
        await writer.client.upsert(qdrant.name, [writer.point(3), writer.point(3)])
    with pytest.raises(InvalidInputError, match="repeat"):
        await writer.client.update_vectors(
            qdrant.name,
            [models.PointVectors(id=1, vector=vec(1)), models.PointVectors(id=1, vector=vec(1))],
        )
    with pytest.raises(InvalidInputError):
        await writer.client.upsert(qdrant.name, [])
    with pytest.raises(InvalidInputError):
        await writer.client.upsert(qdrant.name, [{"id": 3, "vector": vec(1)}])  # type: ignore[list-item]
    await unchanged(writer, before)


async def test_a_batch_works_when_well_formed(writer: Writer, qdrant: Store) -> None:
    payload = {"resource_id": writer.doc}
    await writer.client.upsert(
        qdrant.name, models.Batch(ids=[3, 4], vectors=[vec(1), vec(0, 1)], payloads=[payload] * 2)
    )
    assert (await writer.client.count(qdrant.name)).count == 4


@pytest.mark.parametrize(
    "flt",
    [
        "topic = 'a'",
        {"must": [{"key": "topic", "match": {"nope": 1}}]},
        {"$and": [{"topic": "a"}]},  # a Chroma where: not a Qdrant filter
        models.Filter.model_construct(must=[models.FieldCondition.model_construct(key="topic")]),
        models.Filter.model_construct(must=["topic"]),
        models.Filter.model_construct(must=[models.FieldCondition.model_construct(key="")]),
        models.Filter(must=[models.FieldCondition(key=ID_KEY, match=models.MatchValue(value=1))]),
        models.Filter(must=[models.HasIdCondition(has_id=["not-a-uuid"])]),
        [{"key": "topic", "match": {"value": "a"}}],  # a list, not a filter
        models.Filter(
            min_should=models.MinShould(
                conditions=[models.FieldCondition(key="topic", match=models.MatchValue(value="a"))],
                min_count=0,
            )
        ),
        models.Filter(must=[models.SliceCondition(slice=models.Slice(total=2, index=5))]),
        models.Filter(
            must=[
                models.NestedCondition(
                    nested=models.Nested(
                        key="items", filter=models.Filter(must=[models.HasIdCondition(has_id=[1])])
                    )
                )
            ]
        ),
    ],
)
async def test_malformed_filters_are_filter_errors(writer: Writer, qdrant: Store, flt: Any) -> None:
    before = await qdrant.points()
    with pytest.raises(FilterError):
        await writer.client.scroll(qdrant.name, scroll_filter=flt)
    with pytest.raises(FilterError):
        await writer.client.query_points(qdrant.name, query=vec(1), query_filter=flt)
    with pytest.raises(FilterError):
        await writer.client.count(qdrant.name, count_filter=flt)
    # As a points selector a string or list is not a filter at all: an InvalidInputError.
    with pytest.raises(FilterError if not isinstance(flt, str | list) else InvalidInputError):
        await writer.client.delete(qdrant.name, flt)
    with pytest.raises(InvalidInputError):
        await writer.client.set_payload(qdrant.name, {"x": 1}, flt)
    await unchanged(writer, before)


async def test_a_payload_setting_another_workspace_writes_nothing(
    writer: Writer, qdrant: Store, tenancy: Tenancy
) -> None:
    before = await qdrant.points()
    other = str(tenancy.workspace())
    with pytest.raises(ReservedKeyError):
        await writer.client.upsert(
            qdrant.name, [writer.point(3), writer.point(4, workspace_id=other), writer.point(5)]
        )
    with pytest.raises(ReservedKeyError):
        await writer.client.upload_points(
            qdrant.name,
            [writer.point(i) for i in range(10, 20)] + [writer.point(20, workspace_id=other)],
            batch_size=3,
        )
    with pytest.raises(ReservedKeyError):
        await writer.client.set_payload(qdrant.name, {"workspace_id": other}, [1])
    with pytest.raises(ReservedKeyError):
        await writer.client.overwrite_payload(qdrant.name, {"workspace_id": other}, [1])
    await unchanged(writer, before)


async def test_bad_arguments_are_typed_errors(writer: Writer, qdrant: Store) -> None:
    bad_calls: list[Any] = [
        writer.client.query_points(qdrant.name, query=vec(1), limit=0),
        writer.client.query_points(qdrant.name, query=vec(1), with_payload=42),
        writer.client.query_points("", query=vec(1)),
        writer.client.query_points("no-such-collection", query=vec(1)),
        writer.client.query_points(qdrant.name, query=vec(1), prefetch="x"),  # type: ignore[arg-type]
        writer.client.query_batch_points(qdrant.name, ["x"]),  # type: ignore[list-item]
        writer.client.scroll(qdrant.name, limit=-1),
        writer.client.retrieve(qdrant.name, "1"),
        writer.client.delete(qdrant.name, 1),  # type: ignore[arg-type]
        writer.client.delete_payload(qdrant.name, "topic", [1]),
        writer.client.delete_payload(qdrant.name, [ID_KEY], [1]),
        writer.client.set_payload(qdrant.name, {ID_KEY: 3}, [1]),
        writer.client.set_payload(qdrant.name, "x", [1]),  # type: ignore[arg-type]
        writer.client.facet(qdrant.name, ""),
        writer.client.upload_points(qdrant.name, [writer.point(3)], batch_size=0),
        writer.client.update_vectors(qdrant.name, [models.PointVectors(id=99, vector=vec(1))]),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidInputError):
            await call
    assert all(issubclass(e, SentinelVectorsError) for e in (InvalidInputError, FilterError))


def test_construction_needs_auth_and_a_qdrant_client(writer: Writer) -> None:
    with pytest.raises(MissingAuthError):
        ScopedQdrantClient(QdrantClient(":memory:"), None, resource_type="document")
    with pytest.raises(InvalidInputError):
        ScopedQdrantClient(object(), writer.member.auth, resource_type="document")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ScopedQdrantClient(
            QdrantClient(":memory:"),
            writer.member.auth,
            resource_type="document",
            resource_key=ID_KEY,
        )
    with pytest.raises(InvalidInputError):
        ScopedQdrantClient(
            QdrantClient(":memory:"),
            writer.member.auth,
            resource_type="document",
            resource_key="owner_id",
        )


async def test_upsert_of_an_existing_id_replaces_it_only_with_edit_access(
    tenancy: Tenancy, qdrant: Store
) -> None:
    """Qdrant has no add: upsert replaces, as documented in docs/qdrant.md (never silently
    across what the caller may edit: a point of a resource they cannot edit is refused)."""
    ws = tenancy.workspace()
    alice, bob = tenancy.member("editor", ws), tenancy.member("editor", ws)
    shared = tenancy.resource(alice, "workspace")  # editors of the workspace may edit it
    private = tenancy.resource(alice, "private")
    mine = tenancy.resource(bob, "private")
    docs = ScopedQdrantClient(qdrant.client, alice.auth, resource_type="document")
    await docs.upsert(
        qdrant.name,
        [
            models.PointStruct(id=1, vector=vec(1.0), payload={"resource_id": shared}),
            models.PointStruct(id=2, vector=vec(0.0, 1.0), payload={"resource_id": private}),
        ],
    )
    theirs = ScopedQdrantClient(qdrant.client, tenancy.fresh(bob).auth, resource_type="document")
    with pytest.raises(SentinelVectorsError):  # refused (the exact type is the write rule's)
        await theirs.upsert(
            qdrant.name,
            [models.PointStruct(id=2, vector=vec(1.0), payload={"resource_id": mine})],
        )
    theirs = ScopedQdrantClient(qdrant.client, tenancy.fresh(bob).auth, resource_type="document")
    await theirs.upsert(
        qdrant.name,
        [models.PointStruct(id=1, vector=vec(0.5, 0.5), payload={"resource_id": shared})],
    )
    stored = {r.payload[ID_KEY]: r for r in await qdrant.points()}
    assert len(stored) == 2
    assert stored[1].vector[1] > 0.5  # replaced (Qdrant's upsert); the owner stays alice
    assert stored[1].payload["owner_id"] == str(alice.id)
    assert stored[2].payload["resource_id"] == private  # the refused call wrote nothing
    assert stored[2].vector[1] == pytest.approx(1.0)
