"""Lifecycle rules: the store and the identity service stay in step through every failure.

One failure at a time is injected into the identity service (per endpoint, over real
HTTP) or is a real store refusal (a vector of the wrong dimension). After each, the rules
of :mod:`sentinel_vectors.lifecycle` must hold:

- L1 nothing is stored (hence searchable by an admin) that the identity service does not
  know;
- L2 nothing the identity service knows has lost its chunks, unless the call that
  registered it failed (then it is registered with nothing to find);

and a retry converges.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sentinel_vectors.errors import (
    AccessDeniedError,
    DimensionMismatchError,
    PermissionServiceError,
)
from sentinel_vectors.index import chunk_id
from sentinel_vectors.lifecycle import ResourceConflictError
from sentinel_vectors.testing.conformance.world import DIM, World, chunks

__all__ = ["LifecycleRules"]

LOOKUP = r"^/permissions/resource/[^/]+/[^/]+/[0-9a-f-]+$"  # GET; DELETE deregisters
REGISTER = r"^/permissions/register$"
ACCESSIBLE = r"^/permissions/accessible$"


def registered_since(w: World) -> list[str]:
    """Resources registered in workspace A besides the cast's own (registered, no chunks)."""
    return sorted(set(w.t.records_in(w.ws_a)) - w.workspace_a)


async def nothing_of(w: World) -> None:
    """Neither the identity service nor the store holds anything new of workspace A."""
    assert registered_since(w) == []
    assert await w.records_in(w.ws_a) == []
    assert await w.found(w.admin) == set()


class LifecycleRules:
    """``index_resource`` and ``delete_resource`` under injected failures."""

    async def test_index_lookup_fails_nothing_registered_or_written(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        w.faults.fail("GET", LOOKUP)
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))
        await nothing_of(w)
        await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))  # a retry

    @pytest.mark.parametrize("status", [503, 502])
    async def test_index_register_fails_nothing_written(
        self, conformance_world: World, status: int
    ) -> None:
        w = conformance_world
        w.faults.fail("POST", REGISTER, status=status)
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))
        await nothing_of(w)
        assert w.faults.pending() == 0

    async def test_index_writes_no_chunk_before_the_identity_service_knows_it(
        self, conformance_world: World
    ) -> None:
        # Look into the store when the register request arrives: not one chunk may exist
        # yet (an unregistered chunk is visible to every workspace admin).
        w = conformance_world
        loop = asyncio.get_running_loop()
        seen: list[int] = []

        def snapshot() -> None:
            future = asyncio.run_coroutine_threadsafe(w.records_in(w.ws_a), loop)
            seen.append(len(future.result(timeout=30)))

        w.faults.before("POST", REGISTER, snapshot)
        await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))
        assert seen == [0]
        assert len(await w.records_in(w.ws_a)) == 1

    async def test_index_write_refused_registration_is_undone(
        self, conformance_world: World
    ) -> None:
        # The write's accessible(edit) fails: the store refuses to write (fail closed).
        w = conformance_world
        w.faults.fail("POST", ACCESSIBLE)
        with pytest.raises(PermissionServiceError) as caught:
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))
        assert any("unregistered again" in note for note in caught.value.__notes__)
        await nothing_of(w)
        assert w.faults.pending() == 0

    async def test_index_write_and_undo_fail_registration_stays_delete_completes(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        w.faults.fail("POST", ACCESSIBLE, times=2)  # the write, then the undo's removal
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("plan"))
        (doc,) = registered_since(w)  # registered: anything written is under its ACL
        assert await w.records_in(w.ws_a) == []
        assert await w.found(w.admin) == set()
        await w.lifecycle(w.owner).delete_resource(doc)
        await nothing_of(w)

    async def test_index_write_fails_undo_cannot_deregister_a_retry_completes(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        w.faults.fail("POST", ACCESSIBLE)
        w.faults.fail("DELETE", LOOKUP)
        doc = str(uuid.uuid4())
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).index_resource(doc, chunks("plan"))
        assert w.faults.pending() == 0
        assert registered_since(w) == [doc]
        assert await w.records_in(w.ws_a) == []
        done = await w.lifecycle(w.owner).index_resource(doc, chunks("retried"))
        assert not done.created
        assert await w.found(w.admin) == {doc}
        assert await w.found(w.viewer) == {doc}  # workspace-visible by default

    async def test_index_store_refuses_the_vectors_registration_is_undone(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        doc = str(uuid.uuid4())
        with pytest.raises(DimensionMismatchError) as caught:
            await w.lifecycle(w.owner).index_resource(doc, chunks("wide", dim=DIM * 2))
        assert any("unregistered again" in note for note in caught.value.__notes__)
        assert not w.t.registered(doc)
        assert await w.records(doc) == []
        assert set(w.t.records_in(w.ws_a)) == w.workspace_a  # the others are untouched

    async def test_index_an_id_registered_in_another_workspace_is_refused(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.outsider_admin).index_resource(doc, chunks("theirs"))
        with pytest.raises(ResourceConflictError):
            await w.lifecycle(w.owner).index_resource(doc, chunks("mine"))
        assert await w.records_in(w.ws_a) == []
        record = w.t.running.emulator.get(w.t.resource_type, uuid.UUID(doc))
        assert record is not None
        assert record.owner_id == w.outsider_admin.id
        assert [r["workspace_id"] for r in await w.records(doc)] == [str(w.ws_b)]

    async def test_index_an_id_registered_by_someone_else_meanwhile_is_refused(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())

        def register_first() -> None:
            w.t.resource(w.editor, "private", resource_id=uuid.UUID(doc))

        # Right after our lookup (404) and before our register, someone else registers it.
        w.faults.before("POST", REGISTER, register_first)
        with pytest.raises(ResourceConflictError):
            await w.lifecycle(w.owner).index_resource(doc, chunks("race"))
        record = w.t.running.emulator.get(w.t.resource_type, uuid.UUID(doc))
        assert record is not None
        assert record.owner_id == w.editor.id  # theirs, untouched
        assert await w.records(doc) == []

    @pytest.mark.parametrize("owner_is_caller", [False, True])
    async def test_index_register_answering_409_is_resolved_by_a_lookup(
        self, conformance_world: World, owner_is_caller: bool
    ) -> None:
        # A service that answers 409 Conflict for a registered resource, not its record.
        w = conformance_world
        doc = str(uuid.uuid4())
        owner = w.owner if owner_is_caller else w.editor

        def registered_meanwhile() -> None:
            w.t.resource(owner, "private", resource_id=uuid.UUID(doc))

        w.faults.fail("POST", REGISTER, status=409, before=registered_meanwhile)
        call = w.lifecycle(w.owner).index_resource(doc, chunks("conflict"))
        if owner_is_caller:  # our own registration (an earlier attempt whose answer was lost)
            assert (await call).chunks == 1
            assert len(await w.records(doc)) == 1
        else:
            with pytest.raises(ResourceConflictError):
                await call
            assert await w.records(doc) == []
        assert w.faults.pending() == 0

    async def test_index_needs_the_editor_role_and_registers_nothing(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        with pytest.raises(AccessDeniedError):
            await w.lifecycle(w.viewer).index_resource(uuid.uuid4(), chunks("plan"))
        await nothing_of(w)

    async def test_reindex_replaces_chunks_idempotently_and_drops_the_tail(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        three = chunks("one", "two", "three")
        first = await w.lifecycle(w.owner).index_resource(doc, three, visibility="private")
        again = await w.lifecycle(w.owner).index_resource(doc, three)
        assert (first.created, again.created) == (True, False)
        assert again.record.visibility == "private"  # kept: visibility is set at creation
        assert await w.chunk_indexes(doc) == [0, 1, 2]
        await w.lifecycle(w.owner).index_resource(doc, chunks("only"))
        assert await w.chunk_indexes(doc) == [0]
        hits = await w.search(w.admin)
        assert [(h.id, h.text) for h in hits] == [(chunk_id(doc, 0), "only")]

    async def test_reindex_store_failure_keeps_the_registration_and_old_chunks(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.owner).index_resource(doc, chunks("v1", "v1b"))
        with pytest.raises(DimensionMismatchError) as caught:
            await w.lifecycle(w.owner).index_resource(doc, chunks("v2", dim=DIM * 2))
        assert any("stays registered" in note for note in caught.value.__notes__)
        assert w.t.registered(doc)
        assert await w.chunk_indexes(doc) == [0, 1]
        assert await w.found(w.viewer) == {doc}

    async def test_reindex_permission_failure_changes_nothing(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.owner).index_resource(doc, chunks("v1"))
        w.faults.fail("POST", ACCESSIBLE)
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).index_resource(doc, chunks("v2"))
        assert w.t.registered(doc)
        assert await w.chunk_indexes(doc) == [0]
        assert [h.text for h in await w.search(w.viewer)] == ["v1"]

    async def test_reindex_needs_edit_access_and_keeps_the_owner(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = str(uuid.uuid4())
        await w.lifecycle(w.owner).index_resource(doc, chunks("v1"))
        with pytest.raises(AccessDeniedError):  # workspace-visible: editors may edit it
            await w.lifecycle(w.viewer).index_resource(doc, chunks("vandal"))
        await w.lifecycle(w.editor).index_resource(doc, chunks("v2"))
        assert [r["owner_id"] for r in await w.records(doc)] == [str(w.owner.id)]
        assert [h.text for h in await w.search(w.viewer)] == ["v2"]

    async def test_index_a_private_registered_resource_of_another_owner_is_refused(
        self, conformance_world: World
    ) -> None:
        # Registered but empty: the window the store alone cannot tell from "new".
        w = conformance_world
        doc = w.t.resource(w.admin, "private")
        with pytest.raises(AccessDeniedError):
            await w.lifecycle(w.owner).index_resource(doc, chunks("sneak"))
        assert await w.records(doc) == []

    async def test_a_registered_resource_without_chunks_is_no_leak_and_a_retry_completes(
        self, conformance_world: World
    ) -> None:
        # The state a crash between "register" and "write" leaves behind.
        w = conformance_world
        doc = w.t.resource(w.owner, "private")
        assert await w.found(w.admin) == set()
        done = await w.lifecycle(w.owner).index_resource(doc, chunks("late"))
        assert not done.created
        assert await w.found(w.viewer) == set()  # still private
        assert await w.found(w.admin) == {doc}

    async def test_delete_lookup_fails_nothing_changes(self, conformance_world: World) -> None:
        w = conformance_world
        doc = (
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("a", "b"))
        ).resource_id
        w.faults.fail("GET", LOOKUP)
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).delete_resource(doc)
        assert w.t.registered(doc)
        assert await w.chunk_indexes(doc) == [0, 1]
        assert await w.found(w.viewer) == {doc}

    async def test_delete_chunk_removal_fails_registration_kept_then_retry(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("a", "b"))
        ).resource_id
        w.faults.fail("POST", ACCESSIBLE)
        with pytest.raises(PermissionServiceError):
            await w.lifecycle(w.owner).delete_resource(doc)
        assert w.t.registered(doc)
        assert await w.chunk_indexes(doc) == [0, 1]
        await w.lifecycle(w.owner).delete_resource(doc)
        await nothing_of(w)

    async def test_delete_deregister_fails_chunks_gone_registration_kept_then_retry(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (
            await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("a", "b"))
        ).resource_id
        w.faults.fail("DELETE", LOOKUP)
        with pytest.raises(PermissionServiceError) as caught:
            await w.lifecycle(w.owner).delete_resource(doc)
        assert any("Retry delete_resource()" in note for note in caught.value.__notes__)
        assert w.t.registered(doc)  # known, and nothing to find
        assert await w.records(doc) == []
        assert await w.found(w.admin) == set()
        assert (await w.lifecycle(w.owner).delete_resource(doc)).registered
        assert not w.t.registered(doc)

    async def test_delete_when_someone_deregistered_meanwhile_succeeds(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("a"))).resource_id
        w.faults.fail("DELETE", LOOKUP, status=404)
        assert (await w.lifecycle(w.owner).delete_resource(doc)).registered
        assert await w.records(doc) == []

    async def test_a_resource_whose_owner_is_gone_is_an_admins_only(
        self, conformance_world: World
    ) -> None:
        w = conformance_world
        doc = (await w.lifecycle(w.owner).index_resource(uuid.uuid4(), chunks("v1"))).resource_id
        w.t.running.emulator.delete_user(w.owner.id)  # Sentinel keeps it, owner_id null
        with pytest.raises(AccessDeniedError):
            await w.lifecycle(w.editor).index_resource(doc, chunks("taken over"))
        with pytest.raises(AccessDeniedError):
            await w.lifecycle(w.editor).delete_resource(doc)
        assert [h.text for h in await w.search(w.admin)] == ["v1"]
        done = await w.lifecycle(w.admin).index_resource(doc, chunks("re-indexed"))
        assert not done.created
        assert [h.text for h in await w.search(w.admin)] == ["re-indexed"]
        assert (await w.lifecycle(w.admin).delete_resource(doc)).registered
        assert await w.records(doc) == []
        assert not w.t.registered(doc)
