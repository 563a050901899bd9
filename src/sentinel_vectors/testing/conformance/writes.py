"""Write rules: stamping, the write rule, delete, hidden = absent (invariants 2, 4, 6, 8, 9)."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from sentinel_vectors.errors import AccessDeniedError, PermissionServiceError, ReservedKeyError
from sentinel_vectors.index import CHUNK_INDEX_KEY, CHUNK_OF_KEY, TEXT_KEY, Chunk
from sentinel_vectors.lifecycle import ResourceConflictError, ResourceNotFoundError
from sentinel_vectors.testing.conformance.world import NEAR, World, chunks, same_answer

__all__ = ["WriteRules"]

ACCESSIBLE = r"^/permissions/accessible$"


class WriteRules:
    """Writes are stamped and reach only what the caller may edit; deletes leave nothing."""

    @pytest.mark.invariant(2)
    async def test_invariant_2_writes_are_stamped_from_the_scope(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        (record,) = await w.records(w.private)
        assert record["workspace_id"] == str(w.ws_a)
        assert record["owner_id"] == str(w.owner.id)
        assert record[w.resource_key] == w.private
        assert record[CHUNK_OF_KEY] == w.private
        assert int(record[CHUNK_INDEX_KEY]) == 0
        assert record["topic"] == "a"
        (theirs,) = await w.records(w.b_doc)
        assert (theirs["workspace_id"], theirs["owner_id"]) == (
            str(w.ws_b),
            str(w.outsider_admin.id),
        )

    @pytest.mark.invariant(2)
    async def test_invariant_2_a_new_chunk_is_stamped_with_its_writer(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        w.t.share(w.private, w.editor, "edit")
        old = chunks("private text", "added by the editor")
        await w.index(w.editor).put_chunks(w.private, old)
        owners = {int(r[CHUNK_INDEX_KEY]): r["owner_id"] for r in await w.records(w.private)}
        # Chunk 0 was the owner's; rewriting it keeps its owner. Chunk 1 is the editor's.
        assert owners == {0: str(w.owner.id), 1: str(w.editor.id)}

    @pytest.mark.invariant(2)
    @pytest.mark.parametrize(
        "key",
        ["workspace_id", "owner_id", "<resource key>", CHUNK_OF_KEY, CHUNK_INDEX_KEY, TEXT_KEY],
    )
    async def test_invariant_2_reserved_keys_in_chunk_metadata_are_refused(
        self, conformance_loaded: World, key: str
    ) -> None:
        w = conformance_loaded
        name = w.resource_key if key == "<resource key>" else key
        before = await w.snapshot()
        forged = {"workspace_id": str(w.ws_b), "owner_id": str(w.editor.id)}.get(name, w.b_doc)
        bad = [Chunk("fine", NEAR), Chunk("forged", NEAR, {name: forged})]
        new = str(uuid.uuid4())
        with pytest.raises(ReservedKeyError):
            await w.lifecycle(w.editor).index_resource(new, bad)
        with pytest.raises(ReservedKeyError):
            await w.index(w.owner).put_chunks(w.private, bad)
        with pytest.raises(ReservedKeyError):
            await w.index(w.admin).put_chunks(w.public, bad)
        assert not w.t.registered(new)
        assert await w.snapshot() == before

    @pytest.mark.invariant(4)
    async def test_invariant_4_members_write_only_what_they_may_edit(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        for who, resource in (
            (w.viewer, w.public),  # viewable, but the viewer role never edits
            (w.viewer, w.user_shared),
            (w.editor, w.private),
            (w.owner, w.b_doc),
        ):
            with pytest.raises(AccessDeniedError):
                await w.index(who).put_chunks(resource, chunks("vandal"))
            removed = 0
            with contextlib.suppress(AccessDeniedError):
                removed = await w.index(who).remove_chunks(resource)
            assert removed == 0
        assert await w.snapshot() == before
        # Workspace-visible documents are editable by the workspace's editors.
        await w.index(w.editor).put_chunks(w.public, chunks("edited"))
        assert [
            h.text for h in await w.search(w.viewer, filter=None) if h.resource_id == w.public
        ] == ["edited"]

    @pytest.mark.invariant(4)
    async def test_invariant_4_an_edit_share_grants_writes_a_view_share_does_not(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        w.t.share(w.private, w.editor, "view")
        with pytest.raises(AccessDeniedError):
            await w.index(w.editor).put_chunks(w.private, chunks("sneak"))
        assert await w.chunk_indexes(w.private) == [0]
        w.t.unshare(w.private, w.editor)
        w.t.share(w.private, w.editor, "edit")
        await w.index(w.editor).put_chunks(w.private, chunks("one", "two"))
        assert await w.chunk_indexes(w.private) == [0, 1]
        assert await w.index(w.editor).remove_chunks(w.private) == 2
        assert await w.records(w.private) == []

    @pytest.mark.invariant(8)
    async def test_invariant_8_a_write_needs_a_resource_registered_here_and_editable(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        unknown = str(uuid.uuid4())
        before = await w.snapshot()
        for who, refused in (
            (w.editor, [unknown, w.b_doc, w.private]),
            (w.viewer, [unknown, w.b_doc, w.private, w.public]),
            (w.admin, [unknown, w.b_doc]),
        ):
            errors: list[BaseException] = []
            for resource in refused:
                with pytest.raises(AccessDeniedError) as caught:
                    await w.index(who).put_chunks(resource, chunks("planted"))
                errors.append(caught.value)
            # One answer for all: nothing tells an unknown id from a hidden or foreign one.
            assert len(same_answer(errors, refused)) == 1, same_answer(errors, refused)
        assert await w.snapshot() == before
        assert await w.records(unknown) == []
        assert not w.t.registered(unknown)
        # Registered and editable: the admin through its workspace.
        await w.index(w.admin).put_chunks(w.private, chunks("by the admin"))
        assert await w.chunk_indexes(w.private) == [0]

    @pytest.mark.invariant(8)
    async def test_invariant_8_a_registered_empty_resource_takes_no_foreign_chunks(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        empty = w.t.resource(w.owner, "private")  # registered, no chunks yet
        with pytest.raises(AccessDeniedError):
            await w.index(w.editor).put_chunks(empty, chunks("planted"))
        assert await w.records(empty) == []

    @pytest.mark.invariant(8)
    async def test_invariant_8_delete_resource_removes_every_record_of_it(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("one"))).resource_id
        w.t.share(doc, w.editor, "edit")
        await w.index(w.editor).put_chunks(doc, chunks("one", "two", "three"))
        assert {r["owner_id"] for r in await w.records(doc)} == {str(w.owner.id), str(w.editor.id)}
        w.t.unshare(doc, w.editor)
        done = await w.lifecycle(w.owner).delete_resource(doc)
        assert done.registered
        assert await w.records(doc) == []
        assert not w.t.registered(doc)
        assert await w.found(w.admin) == set()
        # The former editor registers the id anew: nothing written before is there.
        again = await w.lifecycle(w.editor).index_resource(doc, chunks("fresh"))
        assert again.created
        assert await w.chunk_indexes(doc) == [0]
        assert [h.text for h in await w.search(w.editor)] == ["fresh"]

    @pytest.mark.invariant(4)
    @pytest.mark.invariant(8)
    async def test_invariant_8_chunk_ids_stay_their_resources_and_reindexing_converges(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (
            await w.lifecycle(w.owner).index_resource(
                uuid.uuid4(), chunks("a", "b"), visibility="private"
            )
        ).resource_id
        w.t.share(doc, w.editor, "view")
        mine = (await w.lifecycle(w.editor).index_resource(uuid.uuid4(), chunks("m"))).resource_id
        # A viewer of `doc` cannot write its next chunks, through the index or the lifecycle.
        with pytest.raises(AccessDeniedError):
            await w.index(w.editor).put_chunks(doc, chunks("a", "b", "squat", "squat"))
        with pytest.raises(AccessDeniedError):
            await w.lifecycle(w.editor).index_resource(doc, chunks("a", "b", "squat"))
        assert await w.chunk_indexes(doc) == [0, 1]
        assert await w.chunk_indexes(mine) == [0]
        for _ in range(2):  # more chunks, then the same again: a retry converges
            done = await w.lifecycle(w.owner).index_resource(doc, chunks("a", "b", "c", "d"))
            assert not done.created
            assert await w.chunk_indexes(doc) == [0, 1, 2, 3]
        await w.lifecycle(w.owner).index_resource(doc, chunks("only"))
        assert await w.chunk_indexes(doc) == [0]
        assert await w.chunk_indexes(mine) == [0]

    @pytest.mark.invariant(8)
    async def test_invariant_8_orphan_chunks_are_never_claimed_and_an_admin_removes_them(
        self, conformance_world: World
    ) -> None:
        # Chunks of a resource the identity service forgot (an earlier version's data, or
        # a deregistration behind the store's back): simulated by deregistering directly.
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.owner).index_resource(doc, chunks("orphan"))
        w.t.running.emulator.deregister(w.t.resource_type, uuid.UUID(doc))
        assert await w.found(w.admin) == {doc}
        assert await w.found(w.owner) == set()  # not even its writer sees it
        with pytest.raises(ResourceConflictError):
            await w.lifecycle(w.editor).index_resource(doc, chunks("mine now"))
        assert not w.t.registered(doc)
        for who in (w.editor, w.owner):
            with pytest.raises(ResourceNotFoundError):
                await w.lifecycle(who).delete_resource(doc)
        assert await w.chunk_indexes(doc) == [0]
        done = await w.lifecycle(w.admin).delete_resource(doc)
        assert not done.registered
        assert await w.records(doc) == []
        with pytest.raises(ResourceNotFoundError):
            await w.lifecycle(w.admin).delete_resource(doc)
        assert not w.t.registered(doc)

    @pytest.mark.invariant(8)
    async def test_invariant_8_orphan_chunks_all_of_the_callers_own_may_be_claimed(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.owner).index_resource(doc, chunks("a", "b"))
        w.t.running.emulator.deregister(w.t.resource_type, uuid.UUID(doc))
        done = await w.lifecycle(w.owner).index_resource(doc, chunks("c"))
        assert done.created
        assert await w.found(w.owner) == {doc}
        assert await w.chunk_indexes(doc) == [0]

    @pytest.mark.invariant(6)
    async def test_invariant_6_a_failing_permission_service_refuses_the_write(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        w.faults.fail("POST", ACCESSIBLE, times=3)
        for call in (
            w.index(w.owner).put_chunks(w.private, chunks("v2")),
            w.index(w.owner).remove_chunks(w.private),
            w.lifecycle(w.owner).delete_resource(w.private),
        ):
            with pytest.raises(PermissionServiceError):
                await call
        assert await w.snapshot() == before
        assert w.t.registered(w.private)

    @pytest.mark.invariant(6)
    async def test_invariant_6_a_failing_registry_lookup_refuses_an_admin_write(
        self, conformance_loaded: World
    ) -> None:
        # Full access says nothing about a resource: admins' writes ask the registry
        # whether it is registered here, and an error there refuses the write.
        w = conformance_loaded
        index = w.index(w.admin)
        await index.scope.access("edit")  # accessible() answered and cached
        before = await w.snapshot()
        w.t.running.emulator.fail_with_status = 503
        try:
            for resource in (str(uuid.uuid4()), w.public):
                with pytest.raises(PermissionServiceError):
                    await index.put_chunks(resource, chunks("new"))
        finally:
            w.t.running.emulator.fail_with_status = None
        assert await w.snapshot() == before

    @pytest.mark.invariant(9)
    async def test_invariant_9_indexing_a_hidden_or_foreign_id_answers_alike(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        ids = [w.private, w.b_doc]
        errors: list[BaseException] = []
        for rid in ids:
            with pytest.raises(AccessDeniedError) as caught:
                await w.lifecycle(w.editor).index_resource(rid, chunks("take over"))
            errors.append(caught.value)
        assert len(same_answer(errors, ids)) == 1, same_answer(errors, ids)
        assert await w.chunk_indexes(w.private) == [0]
        assert await w.chunk_indexes(w.b_doc) == [0]
        assert "take over" not in {h.text for h in await w.search(w.editor)}

    @pytest.mark.invariant(9)
    async def test_invariant_9_deleting_a_hidden_foreign_or_unknown_id_answers_alike(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        before = await w.snapshot()
        ids = [w.private, w.b_doc, str(uuid.uuid4())]
        errors: list[BaseException] = []
        for rid in ids:
            with pytest.raises(ResourceNotFoundError) as caught:
                await w.lifecycle(w.editor).delete_resource(rid)
            errors.append(caught.value)
        assert len(same_answer(errors, ids)) == 1, same_answer(errors, ids)
        # Viewable but not the caller's: refused by name (it may know it exists).
        with pytest.raises(AccessDeniedError) as refused:
            await w.lifecycle(w.viewer).delete_resource(w.public)
        assert not isinstance(refused.value, ResourceNotFoundError)
        assert await w.snapshot() == before
