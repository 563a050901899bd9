"""Read rules: what a search or a count may return (invariants 1, 6 and 9)."""

from __future__ import annotations

import uuid

import pytest
from sentinel_auth import PermissionClient

from sentinel_vectors import filters as F
from sentinel_vectors.auth import request_auth
from sentinel_vectors.errors import PermissionServiceError, ReservedKeyError
from sentinel_vectors.index import CHUNK_OF_KEY
from sentinel_vectors.testing.conformance.world import NEAR, World

__all__ = ["ReadRules"]


class ReadRules:
    """Searches and counts return only what the caller may view, or fail closed."""

    @pytest.mark.invariant(1)
    async def test_invariant_1_a_member_finds_only_accessible_resources_of_its_workspace(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        hits = await w.search(w.viewer)
        assert {h.resource_id for h in hits} == w.viewer_sees
        assert sorted(h.text for h in hits) == ["group text", "public text", "shared text"]
        for hit in hits:
            assert hit.metadata["workspace_id"] == str(w.ws_a)
            assert hit.metadata[w.resource_key] == hit.resource_id
        # Closest first: B's document sits at the query itself and must not take a place.
        assert [h.resource_id for h in hits] == [w.public, w.user_shared, w.group_shared]
        assert [h.resource_id for h in await w.search(w.viewer, k=1)] == [w.public]

    @pytest.mark.invariant(1)
    async def test_invariant_1_full_access_is_the_whole_workspace_and_nothing_else(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        assert await w.found(w.admin) == w.workspace_a
        assert await w.found(w.owner) == w.workspace_a  # its own, private included
        assert await w.found(w.editor) == {w.public}
        assert await w.found(w.outsider_admin) == {w.b_doc}

    @pytest.mark.invariant(1)
    async def test_invariant_1_a_caller_filter_only_narrows(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        wide = F.or_(F.eq("topic", "a"), F.ne("topic", "a"))
        assert await w.found(w.viewer, filter=wide) == w.viewer_sees
        assert await w.found(w.viewer, filter=F.not_(F.eq("topic", "zzz"))) == w.viewer_sees
        narrowed = await w.search(w.viewer, filter=F.eq("topic", "b"))
        assert {h.resource_id for h in narrowed} == {w.user_shared, w.group_shared}
        assert {h.id for h in narrowed} <= {h.id for h in await w.search(w.viewer)}
        # The convenience key names documents; it never reaches one the caller may not view.
        everything = [w.private, w.public, w.b_doc]
        assert await w.found(w.viewer, filter=F.in_(CHUNK_OF_KEY, everything)) == {w.public}
        assert await w.found(w.admin, filter=F.eq(CHUNK_OF_KEY, w.b_doc)) == set()

    @pytest.mark.invariant(1)
    @pytest.mark.parametrize("key", ["workspace_id", "owner_id", "<resource key>"])
    async def test_invariant_1_a_filter_naming_a_tenancy_key_is_refused(
        self, conformance_loaded: World, key: str
    ) -> None:
        w = conformance_loaded
        name = w.resource_key if key == "<resource key>" else key
        value = {"workspace_id": str(w.ws_b), "owner_id": str(w.outsider_admin.id)}.get(
            name, w.b_doc
        )
        for flt in (
            F.eq(name, value),
            F.ne(name, value),
            F.in_(name, [value]),
            F.or_(F.eq("topic", "a"), F.eq(name, value)),
            F.not_(F.and_(F.eq("topic", "a"), F.not_in(name, [value]))),
        ):
            with pytest.raises(ReservedKeyError):
                await w.search(w.admin, filter=flt)

    @pytest.mark.invariant(1)
    async def test_invariant_1_access_changes_apply_from_the_next_request(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        w.t.share(w.private, w.viewer, "view")
        assert await w.found(w.viewer) == {*w.viewer_sees, w.private}
        w.t.unshare(w.private, w.viewer)
        w.t.unshare(w.user_shared, w.viewer)
        assert await w.found(w.viewer) == {w.public, w.group_shared}
        w.t.running.emulator.set_visibility(w.t.resource_type, uuid.UUID(w.public), "private")
        assert await w.found(w.editor) == set()

    @pytest.mark.invariant(1)
    @pytest.mark.invariant(9)
    async def test_invariant_9_counts_see_a_hidden_resource_as_absent(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        index = w.index(w.viewer)
        assert await index.count_chunks(w.public) == 1
        assert await index.count_chunks(w.user_shared) == 1
        absent = str(uuid.uuid4())
        for hidden in (w.private, w.b_doc):
            assert await index.count_chunks(hidden) == 0 == await index.count_chunks(absent)
        assert await w.index(w.admin).count_chunks(w.b_doc) == 0
        assert await w.index(w.admin).count_chunks(w.private) == 1

    @pytest.mark.invariant(6)
    @pytest.mark.parametrize("status", [500, 503, 403])
    async def test_invariant_6_a_permission_service_error_fails_closed(
        self, conformance_loaded: World, status: int
    ) -> None:
        w = conformance_loaded
        w.t.running.emulator.fail_with_status = status
        try:
            for who in (w.viewer, w.admin):
                with pytest.raises(PermissionServiceError):
                    await w.search(who)
                with pytest.raises(PermissionServiceError):
                    await w.index(who).count_chunks(w.public)
        finally:
            w.t.running.emulator.fail_with_status = None

    @pytest.mark.invariant(6)
    async def test_invariant_6_an_unreachable_permission_service_fails_closed(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        dead = PermissionClient("http://127.0.0.1:9", "test-service", "test-service-key")
        try:
            auth = request_auth(w.viewer.user, w.viewer.token, dead)
            with pytest.raises(PermissionServiceError):
                await w.target.backend.index(auth).search(NEAR, 5)
        finally:
            await dead.close()  # type: ignore[no-untyped-call]

    @pytest.mark.invariant(6)
    async def test_invariant_6_an_empty_accessible_set_finds_nothing(
        self, conformance_loaded: World
    ) -> None:
        w = conformance_loaded
        stranger = w.t.member("viewer", w.ws_a)
        w.t.running.emulator.set_visibility(w.t.resource_type, uuid.UUID(w.public), "private")
        assert await w.search(stranger) == []
        assert await w.search(stranger, filter=F.eq("topic", "a")) == []
        assert await w.index(stranger).count_chunks(w.private) == 0
