"""The DESIGN.md security invariants, proven on real Qdrant (local mode; a server with QDRANT_URL).

Every test names the invariant it guards. Auth is the real ``sentinel_auth.RequestAuth``
talking HTTP to the permission-service emulator; the store is a real Qdrant.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors import filters as F
from sentinel_vectors.errors import (
    AccessDeniedError,
    InvalidInputError,
    PermissionServiceError,
    ReservedKeyError,
    UnsupportedError,
)
from sentinel_vectors.filters import Membership
from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_qdrant import ID_KEY, QdrantFilterCompiler, ScopedQdrantClient
from sentinel_vectors_qdrant.compiler import QdrantCondition
from tests.qdrant.conftest import Store
from tests.qdrant.world import NEAR, UUID_ID, World, scoped, vec

VIEWER_SEES = [2, 3, UUID_ID]
ALL_OF_A = [1, 2, 3, UUID_ID]


def ids(points: list[Any]) -> list[Any]:
    return [p.id for p in points]


def same(found: list[Any], expected: list[Any]) -> bool:
    return sorted(map(str, found)) == sorted(map(str, expected))


def topic(value: str) -> models.FieldCondition:
    return models.FieldCondition(key="topic", match=models.MatchValue(value=value))


@pytest.fixture
async def world(tenancy: Tenancy, qdrant: Store) -> World:
    w = World(tenancy)
    await w.load(qdrant)
    return w


# -- invariant 1 -------------------------------------------------------------------


@pytest.mark.invariant(1)
async def test_invariant_1_viewer_reads_only_accessible_points_of_own_workspace(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.viewer)
    hits = (await docs.query_points(qdrant.name, query=NEAR, limit=10)).points
    assert ids(hits) == VIEWER_SEES  # nearest first; B's identical point 2 is not there
    assert all(h.payload and h.payload["workspace_id"] == str(world.ws_a) for h in hits)
    records, next_offset = await docs.scroll(qdrant.name, limit=10)
    assert same(ids(records), VIEWER_SEES)
    assert next_offset is None
    assert (await docs.count(qdrant.name)).count == 3
    got = await docs.retrieve(qdrant.name, [1, 2, 3, UUID_ID, 99])
    assert ids(got) == VIEWER_SEES  # private 1 is absent like a missing 99
    assert got[0].payload is not None
    assert got[0].payload["resource_id"] == world.public  # A's point 2, not B's


@pytest.mark.invariant(1)
async def test_invariant_1_batch_grouped_and_facet_reads_are_confined(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.viewer)
    batch = await docs.query_batch_points(
        qdrant.name,
        [
            models.QueryRequest(query=NEAR, limit=10, with_payload=True),
            models.QueryRequest(query=vec(0, 1), limit=1, filter=models.Filter(must=[topic("b")])),
        ],
    )
    assert ids(batch[0].points) == VIEWER_SEES
    assert ids(batch[1].points) == [UUID_ID]
    if qdrant.kind.startswith("edge"):
        # qdrant-edge has no groups API: refused with a typed error, never run unscoped.
        with pytest.raises(UnsupportedError, match="no groups API"):
            await docs.query_points_groups(qdrant.name, group_by="topic", query=NEAR, limit=5)
    else:
        groups = await docs.query_points_groups(qdrant.name, group_by="topic", query=NEAR, limit=5)
        grouped = {g.id: ids(g.hits) for g in groups.groups}
        assert grouped == {"a": [2], "b": [3, UUID_ID]}
    facet = await docs.facet(qdrant.name, "topic", exact=True)
    assert {h.value: h.count for h in facet.hits} == {"a": 1, "b": 2}


@pytest.mark.invariant(1)
async def test_invariant_1_admin_sees_the_whole_workspace_and_never_the_other(
    world: World, qdrant: Store
) -> None:
    admin = scoped(qdrant, world.admin)
    hits = (await admin.query_points(qdrant.name, query=NEAR, limit=10)).points
    assert same(ids(hits), ALL_OF_A)
    assert all(h.payload and h.payload["resource_id"] != world.b_doc for h in hits)
    assert (await admin.count(qdrant.name)).count == 4
    b_admin = scoped(qdrant, world.outsider_admin)
    b_hits = (await b_admin.query_points(qdrant.name, query=NEAR, limit=10)).points
    assert ids(b_hits) == [2]
    assert b_hits[0].payload is not None
    assert b_hits[0].payload["resource_id"] == world.b_doc


@pytest.mark.invariant(1)
async def test_invariant_1_a_caller_filter_can_only_narrow(world: World, qdrant: Store) -> None:
    docs = scoped(qdrant, world.viewer)
    # "topic a OR anything": on its own it matches every point of every workspace.
    widest = models.Filter(
        should=[topic("a"), models.IsEmptyCondition(is_empty=models.PayloadField(key="nope"))]
    )
    hits = (await docs.query_points(qdrant.name, query=NEAR, query_filter=widest, limit=10)).points
    assert ids(hits) == VIEWER_SEES
    only_b = models.Filter(must_not=[topic("a")])
    assert same(ids((await docs.scroll(qdrant.name, scroll_filter=only_b))[0]), [3, UUID_ID])
    neutral = F.or_(F.eq("topic", "a"), F.ne("topic", "a"))
    assert (await docs.count(qdrant.name, count_filter=neutral)).count == 3
    by_id = models.Filter(must=[models.HasIdCondition(has_id=[1, 2, UUID_ID])])
    assert same(ids((await docs.scroll(qdrant.name, scroll_filter=by_id))[0]), [2, UUID_ID])


@pytest.mark.invariant(1)
@pytest.mark.parametrize(
    "flt",
    [
        models.Filter(
            must=[models.FieldCondition(key="workspace_id", match=models.MatchAny(any=["x"]))]
        ),
        models.Filter(
            should=[models.FieldCondition(key="owner_id", match=models.MatchValue(value="x"))]
        ),
        models.Filter(
            must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key="resource_id"))]
        ),
        models.Filter(
            must=[models.IsNullCondition(is_null=models.PayloadField(key="resource_id"))]
        ),
        models.Filter(
            must=[models.FieldCondition(key='"workspace_id"', match=models.MatchValue(value="x"))]
        ),
        models.Filter(
            must=[
                models.NestedCondition(
                    nested=models.Nested(
                        key="workspace_id", filter=models.Filter(must=[topic("a")])
                    )
                )
            ]
        ),
        models.Filter(
            must=[
                models.Filter(
                    should=[
                        topic("a"),
                        models.FieldCondition(
                            key="resource_id[]", match=models.MatchValue(value="x")
                        ),
                    ]
                )
            ]
        ),
        models.Filter(
            min_should=models.MinShould(
                conditions=[
                    models.FieldCondition(key="owner_id.x", match=models.MatchValue(value=1))
                ],
                min_count=1,
            )
        ),
        F.eq("workspace_id", "x"),
        F.not_(F.in_("resource_id", ["x"])),
    ],
)
async def test_invariant_1_filters_naming_a_tenancy_key_are_refused(
    world: World, qdrant: Store, flt: Any
) -> None:
    docs = scoped(qdrant, world.viewer)
    with pytest.raises(ReservedKeyError):
        await docs.query_points(qdrant.name, query=NEAR, query_filter=flt)
    with pytest.raises(ReservedKeyError):
        await docs.scroll(qdrant.name, scroll_filter=flt)
    with pytest.raises(ReservedKeyError):
        await docs.count(qdrant.name, count_filter=flt)
    with pytest.raises(ReservedKeyError):
        await scoped(qdrant, world.admin).delete(qdrant.name, flt)


@pytest.mark.invariant(1)
async def test_invariant_1_prefetch_stages_are_scoped_too(world: World, qdrant: Store) -> None:
    docs = scoped(qdrant, world.viewer)
    fused = await docs.query_points(
        qdrant.name,
        prefetch=[
            models.Prefetch(query=NEAR, limit=10),
            models.Prefetch(
                query=vec(0, 1), limit=10, filter=models.Filter(should=[topic("a"), topic("b")])
            ),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=10,
    )
    assert same(ids(fused.points), VIEWER_SEES)
    nested = await docs.query_points(
        qdrant.name,
        prefetch=models.Prefetch(prefetch=models.Prefetch(query=NEAR, limit=10), query=NEAR),
        query=NEAR,
        limit=10,
    )
    assert ids(nested.points) == VIEWER_SEES
    with pytest.raises(ReservedKeyError):
        await docs.query_points(
            qdrant.name,
            prefetch=models.Prefetch(
                query=NEAR,
                filter=models.Filter(
                    must=[
                        models.FieldCondition(key="resource_id", match=models.MatchValue(value="x"))
                    ]
                ),
            ),
            query=NEAR,
        )


@pytest.mark.invariant(1)
async def test_invariant_1_queries_by_point_id_reach_only_visible_points(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.viewer)
    by_id = await docs.query_points(qdrant.name, query=3, limit=10)
    assert same(ids(by_id.points), [2, UUID_ID])  # the query point itself is excluded
    recommend = await docs.query_points(
        qdrant.name,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[2], negative=[3])),
        limit=10,
    )
    assert set(map(str, ids(recommend.points))) <= {str(UUID_ID)}
    for hidden in (
        1,  # A's private document
        models.NearestQuery(nearest=1),
        models.RecommendQuery(recommend=models.RecommendInput(positive=[1])),
        models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=2, context=[models.ContextPair(positive=1, negative=3)]
            )
        ),
        models.ContextQuery(context=models.ContextPair(positive=3, negative=1)),
        str(uuid.uuid4()),  # absent: the same error
    ):
        with pytest.raises(InvalidInputError, match="no point"):
            await docs.query_points(qdrant.name, query=hidden, limit=10)
    with pytest.raises(InvalidInputError, match="no point"):
        await docs.query_points(
            qdrant.name, prefetch=models.Prefetch(query=1), query=NEAR, limit=10
        )


@pytest.mark.invariant(1)
async def test_invariant_1_lookups_into_other_collections_are_refused(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.viewer)
    elsewhere = models.LookupLocation(collection="other")
    with pytest.raises(AccessDeniedError):
        await docs.query_points(qdrant.name, query=2, lookup_from=elsewhere)
    with pytest.raises(AccessDeniedError):
        await docs.query_points(
            qdrant.name, prefetch=models.Prefetch(query=2, lookup_from=elsewhere), query=NEAR
        )
    with pytest.raises(AccessDeniedError):
        await docs.query_points_groups(
            qdrant.name, group_by="topic", query=NEAR, with_lookup="other"
        )
    same_collection = models.LookupLocation(collection=qdrant.name)
    hits = await docs.query_points(qdrant.name, query=2, lookup_from=same_collection, limit=10)
    assert same(ids(hits.points), [3, UUID_ID])


@pytest.mark.invariant(1)
async def test_invariant_1_payload_selection_never_hides_the_recheck_nor_shows_internals(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.viewer)
    bare = (await docs.query_points(qdrant.name, query=NEAR, with_payload=False)).points
    assert ids(bare) == VIEWER_SEES
    assert all(p.payload is None for p in bare)
    only_topic = (await docs.query_points(qdrant.name, query=NEAR, with_payload=["topic"])).points
    assert [p.payload for p in only_topic] == [{"topic": "a"}, {"topic": "b"}, {"topic": "b"}]
    excluded = await docs.retrieve(
        qdrant.name, [2], with_payload=models.PayloadSelectorExclude(exclude=["workspace_id"])
    )
    assert excluded[0].payload is not None
    assert "workspace_id" not in excluded[0].payload
    assert excluded[0].payload["topic"] == "a"
    full = await docs.retrieve(qdrant.name, [2], with_payload=True)
    assert full[0].payload is not None
    assert ID_KEY not in full[0].payload


@pytest.mark.invariant(1)
async def test_invariant_1_scroll_pages_through_own_points_with_caller_ids(
    world: World, qdrant: Store
) -> None:
    docs = scoped(qdrant, world.admin)
    seen: list[Any] = []
    offset: Any = None
    for _ in range(10):
        page, offset = await docs.scroll(qdrant.name, limit=1, offset=offset)
        seen.extend(ids(page))
        if offset is None:
            break
    assert same(seen, ALL_OF_A)
    assert len(seen) == 4


# -- invariant 2 -------------------------------------------------------------------


@pytest.mark.invariant(2)
async def test_invariant_2_writes_are_stamped_from_the_scope(world: World, qdrant: Store) -> None:
    stored = await qdrant.points()
    a_points = [p for p in stored if p.payload and p.payload["workspace_id"] == str(world.ws_a)]
    assert len(a_points) == 4
    for point in a_points:
        assert point.payload is not None
        assert point.payload["owner_id"] == str(world.owner.id)
        assert point.payload[ID_KEY] in ALL_OF_A
    (b_point,) = [p for p in stored if p.payload and p.payload["workspace_id"] == str(world.ws_b)]
    assert b_point.payload is not None
    assert b_point.payload["owner_id"] == str(world.outsider_admin.id)
    assert b_point.payload["resource_id"] == world.b_doc


@pytest.mark.invariant(2)
async def test_invariant_2_disagreeing_tenancy_values_are_errors_and_nothing_is_written(
    world: World, qdrant: Store
) -> None:
    before = await qdrant.points()
    owner = scoped(qdrant, world.owner)
    bad_payloads: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"resource_id": world.public, "workspace_id": str(world.ws_b)}, ReservedKeyError),
        ({"resource_id": world.public, "owner_id": str(world.editor.id)}, AccessDeniedError),
        ({"topic": "no resource"}, ReservedKeyError),
        ({"resource_id": "not-a-uuid"}, InvalidInputError),
    ]
    for payload, error in bad_payloads:
        with pytest.raises(error):
            await owner.upsert(
                qdrant.name,
                [
                    models.PointStruct(id=10, vector=vec(1), payload={"resource_id": world.public}),
                    models.PointStruct(id=11, vector=vec(1), payload=payload),
                ],
            )
    for payload, key in (
        ({"workspace_id": str(world.ws_b)}, None),
        ({"resource_id": world.private}, None),
        ({"owner_id": str(world.editor.id)}, None),
        ({"x": 1}, "workspace_id"),
        ({"x": 1}, "resource_id.x"),
    ):
        with pytest.raises(ReservedKeyError):
            await owner.set_payload(qdrant.name, payload, [2], key=key)
    with pytest.raises(ReservedKeyError):
        await owner.overwrite_payload(qdrant.name, {"resource_id": world.private}, [2])
    with pytest.raises(ReservedKeyError):
        await owner.delete_payload(qdrant.name, ["owner_id"], [2])
    with pytest.raises(ReservedKeyError):
        await owner.upsert(
            qdrant.name,
            [
                models.PointStruct(
                    id=12, vector=vec(1), payload={"resource_id": world.public, ID_KEY: 5}
                )
            ],
        )
    assert await qdrant.points() == before


@pytest.mark.invariant(2)
async def test_invariant_2_payload_updates_keep_the_tenancy_stamp(
    world: World, qdrant: Store
) -> None:
    owner = scoped(qdrant, world.owner)
    # Repeating a tenancy value as stored is allowed (and changes nothing).
    await owner.set_payload(
        qdrant.name, {"topic": "c", "workspace_id": str(world.ws_a).upper()}, [2]
    )
    await owner.overwrite_payload(qdrant.name, {"only": True}, [3])
    await owner.clear_payload(qdrant.name, [UUID_ID])
    await owner.delete_payload(qdrant.name, ["topic"], models.Filter(must=[topic("a")]))
    got = {
        r.id: r.payload for r in await scoped(qdrant, world.admin).retrieve(qdrant.name, ALL_OF_A)
    }
    tenancy = {"workspace_id": str(world.ws_a), "owner_id": str(world.owner.id)}
    assert got[1] == {**tenancy, "resource_id": world.private}
    assert got[2] == {**tenancy, "resource_id": world.public, "topic": "c"}
    assert got[3] == {**tenancy, "resource_id": world.user_shared, "only": True}
    assert got[UUID_ID] == {**tenancy, "resource_id": world.group_shared}
    # The viewer still sees exactly what it saw: the stamp survived every update.
    hits = (await scoped(qdrant, world.viewer).query_points(qdrant.name, query=NEAR)).points
    assert ids(hits) == VIEWER_SEES


@pytest.mark.invariant(2)
async def test_invariant_2_admin_may_write_for_another_owner(world: World, qdrant: Store) -> None:
    await scoped(qdrant, world.admin).upsert(
        qdrant.name,
        [
            models.PointStruct(
                id=20,
                vector=vec(1),
                payload={"resource_id": world.public, "owner_id": str(world.editor.id)},
            )
        ],
    )
    (point,) = await scoped(qdrant, world.admin).retrieve(qdrant.name, [20])
    assert point.payload is not None
    assert point.payload["owner_id"] == str(world.editor.id)


# -- invariant 3 -------------------------------------------------------------------


@pytest.mark.invariant(3)
async def test_invariant_3_the_same_id_in_two_workspaces_is_two_points(
    world: World, qdrant: Store
) -> None:
    stored = await qdrant.points()
    twos = [p for p in stored if p.payload and p.payload[ID_KEY] == 2]
    assert len(twos) == 2
    assert {p.payload["workspace_id"] for p in twos if p.payload} == {
        str(world.ws_a),
        str(world.ws_b),
    }
    assert all(isinstance(p.id, str) and p.id != "2" for p in twos)  # namespaced uuid5 ids
    b_admin = scoped(qdrant, world.outsider_admin)
    await b_admin.upsert(
        qdrant.name,
        [models.PointStruct(id=2, vector=vec(0, 0, 1), payload={"resource_id": world.b_doc})],
    )
    await b_admin.delete(qdrant.name, [2, 3, UUID_ID])
    assert not await b_admin.retrieve(qdrant.name, [2])
    (a_two,) = await scoped(qdrant, world.admin).retrieve(qdrant.name, [2], with_vectors=True)
    assert a_two.payload is not None
    assert a_two.payload["resource_id"] == world.public
    assert a_two.vector == pytest.approx([0.7071, 0.7071, 0, 0], abs=1e-3)  # cosine-normalised
    assert (await scoped(qdrant, world.admin).count(qdrant.name)).count == 4


@pytest.mark.invariant(3)
async def test_invariant_3_ids_come_back_exactly_as_written(world: World, qdrant: Store) -> None:
    got = await scoped(qdrant, world.admin).retrieve(qdrant.name, [UUID_ID.lower(), 1])
    assert ids(got) == [UUID_ID, 1]  # upper-case UUID string and int, as written
    assert isinstance(got[1].id, int)
    lowered = str(uuid.UUID(UUID_ID))
    hits = await scoped(qdrant, world.viewer).query_points(
        qdrant.name, query=models.NearestQuery(nearest=uuid.UUID(lowered)), limit=1
    )
    assert ids(hits.points) == [3]


# -- invariant 4 -------------------------------------------------------------------


@pytest.mark.invariant(4)
async def test_invariant_4_viewers_and_non_editors_cannot_write(
    world: World, qdrant: Store
) -> None:
    before = await qdrant.points()
    viewer = scoped(qdrant, world.viewer)
    with pytest.raises(AccessDeniedError):  # a viewer may create nothing
        await viewer.upsert(
            qdrant.name,
            [models.PointStruct(id=30, vector=vec(1), payload={"resource_id": str(uuid.uuid4())})],
        )
    with pytest.raises(AccessDeniedError):  # shared for view only
        await viewer.upsert(
            qdrant.name,
            [models.PointStruct(id=3, vector=vec(1), payload={"resource_id": world.user_shared})],
        )
    editor = scoped(qdrant, world.editor)
    with pytest.raises(AccessDeniedError):  # a new point of an existing, uneditable resource
        await editor.upsert(
            qdrant.name,
            [models.PointStruct(id=31, vector=vec(1), payload={"resource_id": world.private})],
        )
    with pytest.raises(AccessDeniedError):  # replacing someone's point with an own resource
        await editor.upsert(
            qdrant.name,
            [models.PointStruct(id=1, vector=vec(1), payload={"resource_id": world.public})],
        )
    # Points the editor may not view (1, 3, UUID_ID: private or shared with others) are
    # absent ids (invariant 9): nothing changes, no error, the answer of a missing id.
    absent = await editor.delete(qdrant.name, [999])
    for call in (
        editor.delete(qdrant.name, [1, 3]),
        editor.set_payload(qdrant.name, {"x": 1}, models.PointIdsList(points=[1])),
        editor.overwrite_payload(qdrant.name, {"x": 1}, [3]),
        editor.delete_payload(qdrant.name, ["topic"], [UUID_ID]),
        editor.clear_payload(qdrant.name, [1]),
        editor.delete_vectors(qdrant.name, [""], [1]),
    ):
        assert await call == absent
    with pytest.raises(InvalidInputError):  # as for a missing point
        await editor.update_vectors(qdrant.name, [models.PointVectors(id=1, vector=vec(0, 1))])
    # Points the caller may view but not edit are refused by name.
    for call in (
        viewer.delete(qdrant.name, [2, 3]),
        viewer.set_payload(qdrant.name, {"x": 1}, models.PointIdsList(points=[3])),
        viewer.overwrite_payload(qdrant.name, {"x": 1}, [3]),
        viewer.delete_payload(qdrant.name, ["topic"], [UUID_ID]),
        viewer.clear_payload(qdrant.name, [2]),
        viewer.update_vectors(qdrant.name, [models.PointVectors(id=3, vector=vec(0, 1))]),
        viewer.delete_vectors(qdrant.name, [""], [3]),
    ):
        with pytest.raises(AccessDeniedError):
            await call
    assert await qdrant.points() == before


@pytest.mark.invariant(4)
async def test_invariant_4_filtered_writes_reach_only_editable_points(
    world: World, qdrant: Store
) -> None:
    editor = scoped(qdrant, world.editor)  # may edit the workspace-visible document only
    everything = models.Filter(should=[topic("a"), topic("b")])
    await editor.set_payload(qdrant.name, {"seen": True}, everything)
    await editor.delete_payload(qdrant.name, ["topic"], models.FilterSelector(filter=everything))
    a_points = {
        p.payload[ID_KEY]: p.payload
        for p in await qdrant.points()
        if p.payload and p.payload["workspace_id"] == str(world.ws_a)
    }
    assert a_points[2].get("seen") is True
    assert "topic" not in a_points[2]
    for other in (1, 3, UUID_ID):
        assert "seen" not in a_points[other]
        assert "topic" in a_points[other]
    await editor.delete(qdrant.name, F.or_(F.eq("topic", "b"), F.ne("topic", "b")))
    left = await scoped(qdrant, world.admin).scroll(qdrant.name)
    assert same(ids(left[0]), [1, 3, UUID_ID])
    assert (await scoped(qdrant, world.outsider_admin).count(qdrant.name)).count == 1


@pytest.mark.invariant(4)
async def test_invariant_4_editor_cannot_plant_points_in_a_registered_empty_resource(
    world: World, qdrant: Store
) -> None:
    empty_private = world.t.resource(world.owner, "private")  # someone else's, no points yet
    before = ids((await scoped(qdrant, world.admin).scroll(qdrant.name))[0])
    editor = scoped(qdrant, world.t.fresh(world.editor))
    with pytest.raises(AccessDeniedError):
        await editor.upsert(
            qdrant.name,
            [models.PointStruct(id=50, vector=vec(1), payload={"resource_id": empty_private})],
        )
    assert same(ids((await scoped(qdrant, world.admin).scroll(qdrant.name))[0]), before)


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
async def test_invariant_4_edit_shares_and_registered_resources_are_writable(
    world: World, qdrant: Store
) -> None:
    world.t.share(world.private, world.editor, "edit")
    editor = scoped(qdrant, world.t.fresh(world.editor))
    await editor.update_vectors(qdrant.name, [models.PointVectors(id=1, vector=vec(0, 0, 1))])
    await editor.set_payload(qdrant.name, {"edited": 1}, [1])
    own_doc = world.t.resource(world.editor, "private")  # registered, no points yet
    unregistered = str(uuid.uuid4())  # a resource Sentinel does not know
    # A new request: this one's accessible() answer predates own_doc's registration.
    editor = scoped(qdrant, world.t.fresh(world.editor))
    with pytest.raises(AccessDeniedError):  # invariant 8: register it first
        await editor.upsert(
            qdrant.name,
            [models.PointStruct(id=40, vector=vec(1), payload={"resource_id": unregistered})],
        )
    await editor.upsert(
        qdrant.name,
        [
            models.PointStruct(id=40, vector=vec(1), payload={"resource_id": own_doc}),
            models.PointStruct(id=41, vector=vec(1), payload={"resource_id": own_doc}),
        ],
    )
    (one,) = await scoped(qdrant, world.admin).retrieve(qdrant.name, [1], with_vectors=True)
    assert one.payload is not None
    assert one.payload["edited"] == 1
    assert one.vector == pytest.approx(vec(0, 0, 1))
    (forty,) = await scoped(qdrant, world.admin).retrieve(qdrant.name, [40])
    assert forty.payload is not None
    assert forty.payload["owner_id"] == str(world.editor.id)
    # A new request: RequestAuth de-duplicates accessible() within one request.
    editor = scoped(qdrant, world.t.fresh(world.editor))
    await editor.delete(qdrant.name, [1, 41])
    left = (await scoped(qdrant, world.admin).scroll(qdrant.name))[0]
    assert same(ids(left), [2, 3, UUID_ID, 40])


# -- invariant 5 -------------------------------------------------------------------

COVERED = {
    "upsert",
    "upload_points",
    "query_points",
    "query_batch_points",
    "query_points_groups",
    "scroll",
    "retrieve",
    "count",
    "delete",
    "set_payload",
    "overwrite_payload",
    "delete_payload",
    "clear_payload",
    "update_vectors",
    "delete_vectors",
    "facet",
}


@pytest.mark.invariant(5)
@pytest.mark.parametrize("native_class", [QdrantClient, AsyncQdrantClient])
async def test_invariant_5_uncovered_native_methods_are_not_reachable(
    world: World, qdrant: Store, native_class: type
) -> None:
    docs = scoped(qdrant, world.admin)
    native_methods = {
        name
        for name, member in inspect.getmembers(native_class)
        if not name.startswith("_") and callable(member)
    }
    assert native_methods >= COVERED
    for name in sorted(native_methods - COVERED):
        assert not hasattr(docs, name), f"ScopedQdrantClient exposes native {name}()"
    for name in (
        "create_collection",
        "delete_collection",
        "recreate_collection",
        "update_collection",
        "create_payload_index",
        "create_snapshot",
        "update_collection_aliases",
        "batch_update_points",
        "upload_collection",
        "get_collection",
    ):
        assert not hasattr(docs, name)
    for name in COVERED:
        assert inspect.iscoroutinefunction(getattr(docs, name))
    public = {n for n in dir(docs) if not n.startswith("_")}
    assert public == COVERED | {"scope", "violations", "placement"}


# -- invariant 6 -------------------------------------------------------------------


@pytest.mark.invariant(6)
async def test_invariant_6_permission_service_error_fails_closed(
    world: World, qdrant: Store
) -> None:
    before = await qdrant.points()
    world.t.running.emulator.fail_with_status = 500
    try:
        viewer = scoped(qdrant, world.t.fresh(world.viewer))
        admin = scoped(qdrant, world.t.fresh(world.admin))
        for call in (
            viewer.query_points(qdrant.name, query=NEAR),
            viewer.scroll(qdrant.name),
            viewer.count(qdrant.name),
            viewer.retrieve(qdrant.name, [2]),
            viewer.facet(qdrant.name, "topic"),
            admin.delete(qdrant.name, models.Filter(must=[topic("a")])),
            admin.upsert(
                qdrant.name,
                [models.PointStruct(id=50, vector=vec(1), payload={"resource_id": world.public})],
            ),
            admin.set_payload(qdrant.name, {"x": 1}, [2]),
        ):
            with pytest.raises(PermissionServiceError):
                await call
    finally:
        world.t.running.emulator.fail_with_status = None
    assert await qdrant.points() == before


@pytest.mark.invariant(6)
async def test_invariant_6_timeout_fails_closed(world: World, qdrant: Store) -> None:
    world.t.running.emulator.delay_seconds = 1.0
    try:
        docs = scoped(qdrant, world.t.fresh(world.viewer), timeout=0.2)
        with pytest.raises(PermissionServiceError, match="did not answer"):
            await docs.query_points(qdrant.name, query=NEAR)
    finally:
        world.t.running.emulator.delay_seconds = 0.0


@pytest.mark.invariant(6)
async def test_invariant_6_unreachable_service_fails_closed(world: World, qdrant: Store) -> None:
    from sentinel_auth import PermissionClient

    from sentinel_vectors import request_auth

    dead = PermissionClient("http://127.0.0.1:9", "test-service", "test-service-key")
    try:
        auth = request_auth(world.viewer.user, world.viewer.token, dead)
        with pytest.raises(PermissionServiceError):
            await ScopedQdrantClient(qdrant.client, auth, resource_type="document").scroll(
                qdrant.name
            )
    finally:
        await dead.close()  # type: ignore[no-untyped-call]


class Recorder:
    """Records the native methods called on a real client (it still does the work)."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in (
            "query_points",
            "query_batch_points",
            "query_points_groups",
            "scroll",
            "retrieve",
            "count",
            "facet",
            "upsert",
            "delete",
            "set_payload",
        ):
            original = getattr(client, name)
            monkeypatch.setattr(client, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Any) -> Any:
        if inspect.iscoroutinefunction(original):

            async def arecord(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return await original(*args, **kwargs)

            return arecord

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return original(*args, **kwargs)

        return record


@pytest.mark.invariant(6)
async def test_invariant_6_empty_access_returns_nothing_without_querying(
    world: World, qdrant: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = world.t.member("viewer", world.ws_a)
    world.t.running.emulator.set_visibility("document", uuid.UUID(world.public), "private")
    docs = scoped(qdrant, stranger)
    await docs.query_points(qdrant.name, query=NEAR)  # caches the collection's vector config
    recorder = Recorder(qdrant.client, monkeypatch)
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        assert (await docs.query_points(qdrant.name, query=NEAR)).points == []
        batch = await docs.query_batch_points(
            qdrant.name, [models.QueryRequest(query=NEAR), models.QueryRequest(query=NEAR)]
        )
        assert [r.points for r in batch] == [[], []]
        assert (
            await docs.query_points_groups(qdrant.name, group_by="topic", query=NEAR)
        ).groups == []
        assert await docs.scroll(qdrant.name) == ([], None)
        assert await docs.retrieve(qdrant.name, [2, 3]) == []
        assert (await docs.count(qdrant.name)).count == 0
        assert (await docs.facet(qdrant.name, "topic")).hits == []
    assert recorder.calls == []
    events = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert [e.strategy for e in events] == ["empty"] * 7  # type: ignore[attr-defined]


# -- invariant 7 -------------------------------------------------------------------


class DropsResourceConstraint(QdrantFilterCompiler):
    """A deliberately broken compiler: it forgets the resource-id constraint."""

    def membership(self, node: Membership) -> QdrantCondition:
        if node.key == "resource_id":
            return models.Filter(must=[])
        return super().membership(node)


class DropsWorkspaceConstraint(QdrantFilterCompiler):
    """A deliberately broken compiler: it forgets the workspace constraint."""

    def comparison(self, node: F.Comparison) -> QdrantCondition:
        if node.key == "workspace_id":
            return models.Filter(must=[])
        return super().comparison(node)


@pytest.mark.invariant(7)
@pytest.mark.parametrize("compiler", [DropsResourceConstraint, DropsWorkspaceConstraint])
async def test_invariant_7_recheck_drops_what_a_broken_filter_lets_through(
    world: World,
    qdrant: Store,
    compiler: type[QdrantFilterCompiler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # B's admin stamps A's workspace-visible document id on a point of B's, nearest of all:
    # only the workspace constraint keeps it away from A.
    # (The write rule refuses that resource in B; the stamp is tampered with natively.)
    await scoped(qdrant, world.outsider_admin).upsert(
        qdrant.name,
        [models.PointStruct(id=7, vector=NEAR, payload={"resource_id": world.b_doc})],
    )
    await qdrant.native(
        "set_payload",
        payload={"resource_id": world.public},
        points=models.Filter(
            must=[
                models.FieldCondition(
                    key="workspace_id", match=models.MatchValue(value=str(world.ws_b))
                ),
                models.FieldCondition(key=ID_KEY, match=models.MatchValue(value=7)),
            ]
        ),
    )
    assert (
        ids((await scoped(qdrant, world.viewer).query_points(qdrant.name, query=NEAR)).points)
        == VIEWER_SEES
    )
    docs = scoped(qdrant, world.viewer, compiler=compiler())
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        hits = (await docs.query_points(qdrant.name, query=NEAR, limit=10)).points
    assert ids(hits) == VIEWER_SEES
    assert docs.violations >= 1
    violations = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(violations) == docs.violations
    read = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert read[-1].dropped == docs.violations  # type: ignore[attr-defined]
    records, _ = await docs.scroll(qdrant.name, limit=10)
    assert same(ids(records), VIEWER_SEES)


@pytest.mark.invariant(7)
async def test_invariant_7_a_point_whose_id_does_not_match_its_payload_is_dropped(
    world: World, qdrant: Store
) -> None:
    # Tamper below the wrapper: give B's point 2 the stored id of A's point 3's neighbour.
    stored = await qdrant.points()
    (a_three,) = [p for p in stored if p.payload and p.payload[ID_KEY] == 3]
    await qdrant.native("set_payload", payload={ID_KEY: 2}, points=[a_three.id], wait=True)
    docs = scoped(qdrant, world.viewer)
    hits = (await docs.query_points(qdrant.name, query=NEAR, limit=10)).points
    assert ids(hits) == [2, UUID_ID]
    assert docs.violations == 1


async def test_one_audit_event_per_read(
    world: World, qdrant: Store, caplog: pytest.LogCaptureFixture
) -> None:
    docs = scoped(qdrant, world.viewer)
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        await docs.query_batch_points(
            qdrant.name, [models.QueryRequest(query=NEAR, limit=2), models.QueryRequest(query=NEAR)]
        )
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert event.workspace_id == str(world.ws_a)  # type: ignore[attr-defined]
    assert event.user_id == str(world.viewer.id)  # type: ignore[attr-defined]
    assert event.collection == qdrant.name  # type: ignore[attr-defined]
    assert event.strategy == "prefilter"  # type: ignore[attr-defined]
    assert (event.examined, event.returned, event.dropped) == (5, 5, 0)  # type: ignore[attr-defined]
