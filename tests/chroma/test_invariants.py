"""The DESIGN.md security invariants, proven on real Chroma (server, async server, local).

Every test names the invariant it guards. Auth is the real ``sentinel_auth.RequestAuth``
talking HTTP to the permission-service emulator.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.errors import AccessDeniedError, PermissionServiceError, ReservedKeyError
from sentinel_vectors.filters import Comparison, Filter, FilterCompiler, Membership
from sentinel_vectors.testing.conformance import NEAR, Cast, Member, Tenancy, vec
from sentinel_vectors_chroma import ChromaWhereCompiler, ScopedCollection


def store(collection: Any, member: Member, **kw: Any) -> ScopedCollection:
    return ScopedCollection(collection, member.auth, resource_type="document", **kw)


async def native_ids(collection: Any) -> list[str]:
    got = collection.get(include=[])
    if hasattr(got, "__await__"):
        got = await got
    return sorted(got["ids"])


class World(Cast):
    """The kit's standard cast (two workspaces, five members, five documents), on Chroma."""

    async def load(self, collection: Any) -> None:
        """Write every document's chunks as their owners; workspace B's chunk nearest."""
        docs = store(collection, self.t.fresh(self.owner))
        await docs.add(
            ids=["private", "public", "user-shared", "group-shared"],
            embeddings=[vec(0.9, 0.1), vec(0.5, 0.5), vec(0.4, 0.6), vec(0.3, 0.7)],
            metadatas=[
                {"resource_id": self.private, "topic": "a"},
                {"resource_id": self.public, "topic": "a"},
                {"resource_id": self.user_shared, "topic": "b"},
                {"resource_id": self.group_shared, "topic": "b"},
            ],
            documents=["private text", "public text", "shared text", "group text"],
        )
        other = store(collection, self.t.fresh(self.outsider_admin))
        await other.add(
            ids=["public"],  # same id as in workspace A: invariant 3
            embeddings=[NEAR],
            metadatas=[{"resource_id": self.b_doc, "topic": "a"}],
            documents=["workspace B text"],
        )


@pytest.fixture
async def world(tenancy: Tenancy, chroma_collection: Any) -> World:
    w = World(tenancy)
    await w.load(chroma_collection)
    return w


# -- invariant 1 -------------------------------------------------------------------


@pytest.mark.invariant(1)
async def test_invariant_1_viewer_sees_only_accessible_chunks_of_own_workspace(
    world: World, chroma_collection: Any
) -> None:
    docs = store(chroma_collection, world.viewer)
    hits = await docs.query(query_embeddings=[NEAR], n_results=10)
    assert hits["ids"] == [["public", "user-shared", "group-shared"]]
    assert hits["documents"] == [["public text", "shared text", "group text"]]
    assert all(m["workspace_id"] == str(world.ws_a) for m in hits["metadatas"][0])
    got = await docs.get()
    assert sorted(got["ids"]) == ["group-shared", "public", "user-shared"]
    assert await docs.count() == 3
    assert sorted((await docs.peek())["ids"]) == ["group-shared", "public", "user-shared"]


@pytest.mark.invariant(1)
async def test_invariant_1_owner_and_admin_never_see_the_other_workspace(
    world: World, chroma_collection: Any
) -> None:
    owner_hits = await store(chroma_collection, world.owner).query(
        query_embeddings=[NEAR], n_results=10
    )
    assert sorted(owner_hits["ids"][0]) == ["group-shared", "private", "public", "user-shared"]
    admin = store(chroma_collection, world.admin)
    admin_hits = await admin.query(query_embeddings=[NEAR], n_results=10, include=["documents"])
    assert "workspace B text" not in admin_hits["documents"][0]
    assert await admin.count() == 4
    b_admin = store(chroma_collection, world.outsider_admin)
    assert (await b_admin.get())["documents"] == ["workspace B text"]


@pytest.mark.invariant(1)
async def test_invariant_1_caller_filters_only_narrow(world: World, chroma_collection: Any) -> None:
    docs = store(chroma_collection, world.viewer)
    # An $or that would match everything still stays inside the scope.
    wide = {"$or": [{"topic": "a"}, {"topic": {"$ne": "a"}}]}
    hits = await docs.query(query_embeddings=[NEAR], n_results=10, where=wide)
    assert sorted(hits["ids"][0]) == ["group-shared", "public", "user-shared"]
    narrow = await docs.query(query_embeddings=[NEAR], n_results=10, where={"topic": "b"})
    assert sorted(narrow["ids"][0]) == ["group-shared", "user-shared"]
    neutral = await docs.get(where=F.eq("topic", "a"))
    assert neutral["ids"] == ["public"]
    by_text = await docs.query(
        query_embeddings=[NEAR], n_results=10, where_document={"$contains": "group"}
    )
    assert by_text["ids"] == [["group-shared"]]


@pytest.mark.invariant(1)
async def test_invariant_1_ids_argument_cannot_reach_other_records(
    world: World, chroma_collection: Any
) -> None:
    docs = store(chroma_collection, world.viewer)
    got = await docs.get(ids=["private", "public", "nope"])
    assert got["ids"] == ["public"]


@pytest.mark.invariant(1)
async def test_invariant_1_include_is_honoured(world: World, chroma_collection: Any) -> None:
    docs = store(chroma_collection, world.viewer)
    hits = await docs.query(query_embeddings=[NEAR], n_results=1, include=["distances"])
    assert hits["ids"] == [["public"]]
    assert hits["metadatas"] is None
    assert hits["documents"] is None
    assert hits["distances"][0][0] == pytest.approx(0.5, abs=1e-5)
    got = await docs.get(ids=["public"], include=["embeddings"])
    assert got["metadatas"] is None
    assert list(got["embeddings"][0]) == pytest.approx(vec(0.5, 0.5))


# -- invariant 2 -------------------------------------------------------------------


@pytest.mark.invariant(2)
async def test_invariant_2_writes_are_stamped(world: World, chroma_collection: Any) -> None:
    raw = chroma_collection.get(ids=[f"{world.ws_a}:private"], include=["metadatas"])
    if hasattr(raw, "__await__"):
        raw = await raw
    assert raw["metadatas"][0] == {
        "resource_id": world.private,
        "topic": "a",
        "workspace_id": str(world.ws_a),
        "owner_id": str(world.owner.id),
    }


@pytest.mark.invariant(2)
@pytest.mark.parametrize(
    "forged",
    [
        {"workspace_id": "B"},
        {"owner_id": "other"},
    ],
)
async def test_invariant_2_forged_tenancy_keys_are_refused_and_nothing_is_written(
    world: World, chroma_collection: Any, forged: dict[str, str]
) -> None:
    values = {"B": str(world.ws_b), "other": str(world.viewer.id)}
    meta = {"resource_id": str(uuid.uuid4()), **{k: values[v] for k, v in forged.items()}}
    before = await native_ids(chroma_collection)
    docs = store(chroma_collection, world.editor)
    with pytest.raises((ReservedKeyError, AccessDeniedError)):
        await docs.add(
            ids=["ok", "forged"],
            embeddings=[NEAR, NEAR],
            metadatas=[{"resource_id": meta["resource_id"]}, meta],
        )
    assert await native_ids(chroma_collection) == before


# -- invariant 3 -------------------------------------------------------------------


@pytest.mark.invariant(3)
async def test_invariant_3_same_id_in_two_workspaces_never_collides(
    world: World, chroma_collection: Any
) -> None:
    a_admin = store(chroma_collection, world.admin)
    await a_admin.upsert(
        ids=["public"],
        embeddings=[vec(0.5, 0.5)],
        metadatas=[{"resource_id": world.public, "topic": "changed"}],
        documents=["public text v2"],
    )
    b_admin = store(chroma_collection, world.outsider_admin)
    b_rows = await b_admin.get(ids=["public"])
    assert b_rows["documents"] == ["workspace B text"]
    assert b_rows["metadatas"][0]["topic"] == "a"
    await a_admin.delete(ids=["public"])
    assert (await b_admin.get(ids=["public"]))["ids"] == ["public"]
    assert (await a_admin.get(ids=["public"]))["ids"] == []
    # Stored ids are namespaced; callers see their own ids only.
    assert f"{world.ws_b}:public" in await native_ids(chroma_collection)


# -- invariant 4 -------------------------------------------------------------------


@pytest.mark.invariant(4)
async def test_invariant_4_viewer_cannot_write_existing_or_new_resources(
    world: World, chroma_collection: Any
) -> None:
    before = await native_ids(chroma_collection)
    docs = store(chroma_collection, world.viewer)
    with pytest.raises(AccessDeniedError):
        await docs.update(ids=["public"], metadatas=[{"topic": "x"}])
    with pytest.raises(AccessDeniedError):
        await docs.delete(ids=["user-shared"])
    with pytest.raises(AccessDeniedError):
        await docs.add(
            ids=["new"], embeddings=[NEAR], metadatas=[{"resource_id": str(uuid.uuid4())}]
        )
    assert await native_ids(chroma_collection) == before


@pytest.mark.invariant(4)
async def test_invariant_4_editor_edits_only_editable_resources(
    world: World, chroma_collection: Any
) -> None:
    docs = store(chroma_collection, world.editor)
    # Workspace-visible: editors may edit. Private, unshared: they may not.
    await docs.update(ids=["public"], metadatas=[{"topic": "edited"}])
    with pytest.raises(AccessDeniedError):
        await docs.upsert(
            ids=["private"], embeddings=[NEAR], metadatas=[{"resource_id": world.private}]
        )
    with pytest.raises(AccessDeniedError):
        await docs.add(ids=["sneak"], embeddings=[NEAR], metadatas=[{"resource_id": world.private}])
    with pytest.raises(AccessDeniedError):
        # Re-pointing the stored record "private" at an editable resource is still a write to it.
        await docs.upsert(
            ids=["private"], embeddings=[NEAR], metadatas=[{"resource_id": world.public}]
        )
    # A delete by filter reaches only what the editor may edit.
    result = await docs.delete(where={"topic": {"$in": ["a", "b", "edited"]}})
    assert result == {"deleted": 1}
    owner_view = await store(chroma_collection, world.t.fresh(world.owner)).get()
    assert sorted(owner_view["ids"]) == ["group-shared", "private", "user-shared"]
    assert owner_view["metadatas"][owner_view["ids"].index("private")]["topic"] == "a"


@pytest.mark.invariant(4)
async def test_invariant_4_edit_share_grants_writes(world: World, chroma_collection: Any) -> None:
    world.t.share(world.private, world.editor, "edit")
    docs = store(chroma_collection, world.t.fresh(world.editor))
    await docs.add(ids=["private-2"], embeddings=[NEAR], metadatas=[{"resource_id": world.private}])
    await docs.update(ids=["private"], embeddings=[NEAR], documents=["rewritten"])
    got = await store(chroma_collection, world.t.fresh(world.owner)).get(
        ids=["private", "private-2"]
    )
    assert sorted(got["ids"]) == ["private", "private-2"]
    assert "rewritten" in got["documents"]
    added = got["metadatas"][got["ids"].index("private-2")]
    assert added["owner_id"] == str(world.editor.id)


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
async def test_invariant_8_a_new_resource_is_written_only_once_registered(
    world: World, chroma_collection: Any
) -> None:
    new_doc = str(uuid.uuid4())
    before = await native_ids(chroma_collection)
    # Chunks of a resource the identity service does not know: refused, nothing written
    # (they would be invisible to their writer and claimable by whoever registers first).
    with pytest.raises(AccessDeniedError):
        await store(chroma_collection, world.editor).add(
            ids=["n1", "n2"], embeddings=[NEAR, NEAR], metadatas=[{"resource_id": new_doc}] * 2
        )
    assert await native_ids(chroma_collection) == before
    world.t.resource(world.editor, "private", resource_id=uuid.UUID(new_doc))
    docs = store(chroma_collection, world.t.fresh(world.editor))
    await docs.add(
        ids=["n1", "n2"], embeddings=[NEAR, NEAR], metadatas=[{"resource_id": new_doc}] * 2
    )
    visible = await store(chroma_collection, world.t.fresh(world.editor)).get()
    assert sorted(visible["ids"]) == ["n1", "n2", "public"]


@pytest.mark.invariant(4)
async def test_invariant_4_editor_cannot_plant_chunks_in_a_registered_empty_resource(
    world: World, chroma_collection: Any
) -> None:
    # Someone else's private document, registered with Sentinel, with no chunks yet.
    empty_private = world.t.resource(world.owner, "private")
    before = await native_ids(chroma_collection)
    docs = store(chroma_collection, world.editor)
    with pytest.raises(AccessDeniedError):
        await docs.add(
            ids=["planted"], embeddings=[NEAR], metadatas=[{"resource_id": empty_private}]
        )
    assert await native_ids(chroma_collection) == before


@pytest.mark.invariant(6)
async def test_invariant_6_registry_lookup_failure_refuses_the_write(
    world: World, chroma_collection: Any
) -> None:
    # Admins' writes ask the registry whether the resource is registered here.
    docs = store(chroma_collection, world.t.fresh(world.admin))
    before = await native_ids(chroma_collection)
    # accessible() answers; the following registry lookup fails.
    await docs.scope.access("edit")  # warm the request's accessible() cache
    world.t.running.emulator.fail_with_status = 503
    try:
        with pytest.raises(PermissionServiceError):
            await docs.add(
                ids=["new"], embeddings=[NEAR], metadatas=[{"resource_id": str(uuid.uuid4())}]
            )
    finally:
        world.t.running.emulator.fail_with_status = None
    assert await native_ids(chroma_collection) == before


# -- invariant 5 -------------------------------------------------------------------


@pytest.mark.invariant(5)
async def test_invariant_5_native_methods_are_not_reachable(
    world: World, chroma_collection: Any
) -> None:
    docs = store(chroma_collection, world.admin)
    for name in (
        "modify",
        "delete_collection",
        "fork",
        "search",
        "get_model",
        "configuration",
        "attach_function",
        "metadata",
        "_client",
        "collection",
    ):
        assert not hasattr(docs, name), name
    public = {n for n in dir(docs) if not n.startswith("_")}
    assert public == {
        "add",
        "upsert",
        "update",
        "delete",
        "get",
        "query",
        "count",
        "peek",
        "name",
        "scope",
        "violations",
    }


# -- invariant 6 -------------------------------------------------------------------


@pytest.mark.invariant(6)
async def test_invariant_6_permission_service_error_fails_closed(
    world: World, chroma_collection: Any
) -> None:
    world.t.running.emulator.fail_with_status = 500
    try:
        docs = store(chroma_collection, world.t.fresh(world.viewer))
        with pytest.raises(PermissionServiceError):
            await docs.query(query_embeddings=[NEAR], n_results=3)
        with pytest.raises(PermissionServiceError):
            await docs.get()
        before = await native_ids(chroma_collection)
        with pytest.raises(PermissionServiceError):
            await store(chroma_collection, world.t.fresh(world.admin)).delete(where={"topic": "a"})
        assert await native_ids(chroma_collection) == before
    finally:
        world.t.running.emulator.fail_with_status = None


@pytest.mark.invariant(6)
async def test_invariant_6_timeout_fails_closed(world: World, chroma_collection: Any) -> None:
    world.t.running.emulator.delay_seconds = 1.0
    try:
        docs = store(chroma_collection, world.t.fresh(world.viewer), timeout=0.2)
        with pytest.raises(PermissionServiceError, match="did not answer"):
            await docs.query(query_embeddings=[NEAR], n_results=3)
    finally:
        world.t.running.emulator.delay_seconds = 0.0


@pytest.mark.invariant(6)
async def test_invariant_6_unreachable_service_fails_closed(
    world: World, chroma_collection: Any
) -> None:
    from sentinel_auth import PermissionClient

    from sentinel_vectors import request_auth

    dead = PermissionClient("http://127.0.0.1:9", "test-service", "test-service-key")
    try:
        auth = request_auth(world.viewer.user, world.viewer.token, dead)
        with pytest.raises(PermissionServiceError):
            await ScopedCollection(chroma_collection, auth, resource_type="document").get()
    finally:
        await dead.close()


@pytest.mark.invariant(6)
async def test_invariant_6_empty_access_returns_nothing_without_querying(
    world: World, chroma_collection: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = world.t.member("viewer", world.ws_a)
    world.t.running.emulator.set_visibility("document", uuid.UUID(world.public), "private")
    docs = store(chroma_collection, stranger)
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        hits = await docs.query(query_embeddings=[NEAR, NEAR], n_results=5)
    assert hits["ids"] == [[], []]
    events = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert [e.strategy for e in events] == ["empty"]  # type: ignore[attr-defined]


# -- invariant 7 -------------------------------------------------------------------


class DropsResourceConstraint(ChromaWhereCompiler):
    """A deliberately broken compiler: it forgets the resource-id constraint."""

    def membership(self, node: Membership) -> dict[str, Any]:
        if node.key == "resource_id":
            return {"workspace_id": {"$ne": "never"}}
        return super().membership(node)


class DropsWorkspaceConstraint(DropsResourceConstraint):
    """Forgets the workspace constraint as well: the store returns every workspace."""

    def comparison(self, node: Comparison) -> dict[str, Any]:
        if node.key == "workspace_id":
            return {"workspace_id": {"$ne": "never"}}
        return super().comparison(node)


@pytest.mark.invariant(7)
@pytest.mark.parametrize("compiler", [DropsResourceConstraint, DropsWorkspaceConstraint])
async def test_invariant_7_recheck_drops_what_a_broken_filter_lets_through(
    world: World,
    chroma_collection: Any,
    compiler: type[FilterCompiler[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    docs = store(chroma_collection, world.viewer, compiler=compiler())
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        hits = await docs.query(query_embeddings=[NEAR], n_results=10)
    assert sorted(hits["ids"][0]) == ["group-shared", "public", "user-shared"]
    assert docs.violations >= 1
    violations = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(violations) == docs.violations
    read = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert read[-1].dropped == docs.violations  # type: ignore[attr-defined]


# -- audit -------------------------------------------------------------------------


async def test_one_audit_event_per_read(
    world: World, chroma_collection: Any, caplog: pytest.LogCaptureFixture
) -> None:
    docs = store(chroma_collection, world.viewer)
    with caplog.at_level(logging.INFO, logger="sentinel_vectors.audit"):
        await docs.query(query_embeddings=[NEAR, vec(0, 1)], n_results=2)
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert event.workspace_id == str(world.ws_a)  # type: ignore[attr-defined]
    assert event.user_id == str(world.viewer.id)  # type: ignore[attr-defined]
    assert event.collection == docs.name  # type: ignore[attr-defined]
    assert event.strategy == "prefilter"  # type: ignore[attr-defined]
    assert (event.examined, event.returned, event.dropped) == (4, 4, 0)  # type: ignore[attr-defined]


def _unused(f: Filter) -> None:  # keeps the Filter import meaningful for type checkers
    del f
