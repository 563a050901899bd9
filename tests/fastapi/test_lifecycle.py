"""The resource lifecycle's failure table (docs/fastapi.md) through the example service's routes.

The lifecycle's own rules, called directly, are part of the conformance suite
(``sentinel_vectors.testing.conformance``, run on every backend by ``tests/conformance``).
Here the same failures go through the HTTP routes: what status each one answers.

Failures are injected into the identity service (the emulator behind ``PathFaults``,
over real HTTP) or are real store refusals (a vector of the wrong dimension); the store
is never mocked. After each failure the test checks the two lifecycle rules:

- L1 nothing is searchable (or stored) that the identity service does not know;
- L2 nothing the identity service knows has lost its chunks, unless the call that
  registered it failed (then it is registered with nothing to find, and a retry or a
  delete completes it),

and that a retry converges.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sentinel_auth import PermissionClient

from sentinel_vectors import request_auth
from sentinel_vectors.embedders import HashingEmbedder
from sentinel_vectors.index import Chunk
from sentinel_vectors.lifecycle import ResourceConflictError, ResourceLifecycle
from tests.fastapi.conftest import SERVICE, Person, Service

LOOKUP = rf"^/permissions/resource/{SERVICE}/document/[0-9a-f-]+$"  # GET, and DELETE
REGISTER = r"^/permissions/register$"
ACCESSIBLE = r"^/permissions/accessible$"
WORD = "lifecycle"
EMBED = HashingEmbedder(64)


def chunks(*texts: str, dim: int = 64) -> list[Chunk]:
    """Chunks of ``texts`` (embedded in ``dim`` dimensions)."""
    embedder = EMBED if dim == 64 else HashingEmbedder(dim)
    return [Chunk(t, v) for t, v in zip(texts, embedder.embed_documents(list(texts)), strict=True)]


def permissions_of(svc: Service) -> PermissionClient:
    """The app's PermissionClient."""
    permissions = svc.stores.permissions
    assert permissions is not None
    return permissions


def lifecycle(svc: Service, who: Person) -> ResourceLifecycle:
    """The lifecycle for a fresh request of ``who`` (a new RequestAuth, no request cache)."""
    auth = request_auth(who.user, who.token, permissions_of(svc))
    return svc.stores.lifecycle("documents", auth)


class Team:
    """A fresh workspace with an owner (editor), an admin and a viewer."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.ws = uuid.uuid4()
        self.owner = svc.person("editor", self.ws)
        self.admin = svc.person("admin", self.ws)
        self.viewer = svc.person("viewer", self.ws)

    async def post(self, content: str = f"{WORD} plan", visibility: str = "workspace") -> int:
        r = await self.svc.http.post(
            "/documents",
            json={"title": "t", "content": content, "visibility": visibility},
            headers=self.owner.headers,
        )
        return r.status_code

    async def delete(self, doc: str, who: Person | None = None) -> int:
        r = await self.svc.http.delete(f"/documents/{doc}", headers=(who or self.owner).headers)
        return r.status_code

    async def admin_finds(self) -> set[str]:
        """What a workspace admin finds: every chunk of the workspace in the store."""
        return await self.svc.found(self.admin, WORD)

    async def nothing_here(self) -> None:
        """Neither the identity service nor the store holds anything of the workspace."""
        assert self.svc.identity.records_in(self.ws) == []
        assert await self.svc.raw_in(self.ws) == []
        assert await self.admin_finds() == set()


@pytest.fixture
def team(service: Service) -> Team:
    return Team(service)


# --------------------------------------------------------------------------- index


async def test_index_lookup_fails_nothing_registered_or_written(team: Team) -> None:
    team.svc.identity.faults.fail("GET", LOOKUP)
    assert await team.post() == 503
    await team.nothing_here()
    assert await team.post() == 201  # a retry succeeds


async def test_index_register_fails_nothing_written(team: Team) -> None:
    team.svc.identity.faults.fail("POST", REGISTER)
    assert await team.post() == 503
    await team.nothing_here()
    assert team.svc.identity.faults.pending() == 0


async def test_index_writes_no_chunk_before_the_identity_service_knows_the_resource(
    team: Team,
) -> None:
    # Look into the store at the moment the register request arrives: not one chunk may
    # exist yet (an unregistered chunk is visible to every workspace admin).
    loop = asyncio.get_running_loop()
    seen: list[int] = []

    def snapshot() -> None:
        future = asyncio.run_coroutine_threadsafe(team.svc.raw_in(team.ws), loop)
        seen.append(len(future.result(timeout=10)))

    team.svc.identity.faults.before("POST", REGISTER, snapshot)
    assert await team.post() == 201
    assert seen == [0]
    assert len(await team.svc.raw_in(team.ws)) == 1


async def test_index_register_unreachable_nothing_written(team: Team) -> None:
    team.svc.identity.faults.fail("POST", REGISTER, status=502)
    assert await team.post() == 503
    await team.nothing_here()


async def test_index_write_refused_registration_is_undone(team: Team) -> None:
    # The write's accessible(edit) fails: the store refuses to write (fail closed).
    team.svc.identity.faults.fail("POST", ACCESSIBLE)
    assert await team.post() == 503
    await team.nothing_here()
    assert team.svc.identity.faults.pending() == 0


async def test_index_write_fails_and_undo_cannot_remove_chunks_registration_stays(
    team: Team,
) -> None:
    svc = team.svc
    svc.identity.faults.fail("POST", ACCESSIBLE, times=2)  # the write, then the undo's removal
    assert await team.post() == 503
    (doc,) = svc.identity.records_in(team.ws)  # registered, so anything written is under ACL
    assert await svc.raw_in(team.ws) == []
    assert await team.admin_finds() == set()
    assert await team.delete(doc) == 204  # delete completes it
    await team.nothing_here()


async def test_index_write_fails_and_undo_cannot_deregister_registration_stays(
    team: Team,
) -> None:
    svc = team.svc
    svc.identity.faults.fail("POST", ACCESSIBLE)
    svc.identity.faults.fail("DELETE", LOOKUP)
    assert await team.post() == 503
    assert svc.identity.faults.pending() == 0
    (doc,) = svc.identity.records_in(team.ws)
    assert await svc.raw_in(team.ws) == []
    # A retry of the same index call completes the resource.
    result = await lifecycle(svc, team.owner).index_resource(doc, chunks(f"{WORD} retried"))
    assert not result.created
    assert await team.admin_finds() == {doc}
    assert await svc.found(team.viewer, WORD) == {doc}


# --------------------------------------------------------------------------- delete


async def _indexed(service: Service, team: Team) -> str:
    doc = str(uuid.uuid4())
    await lifecycle(service, team.owner).index_resource(doc, chunks(f"{WORD} a", f"{WORD} b"))
    return doc


async def test_delete_lookup_fails_nothing_changes(service: Service, team: Team) -> None:
    doc = await _indexed(service, team)
    service.identity.faults.fail("GET", LOOKUP)
    assert await team.delete(doc) == 503
    assert service.identity.registered(doc)
    assert len(await service.raw_chunks(doc)) == 2
    assert await service.found(team.viewer, WORD) == {doc}


async def test_delete_chunk_removal_fails_registration_kept_then_retry(
    service: Service, team: Team
) -> None:
    doc = await _indexed(service, team)
    service.identity.faults.fail("POST", ACCESSIBLE)
    assert await team.delete(doc) == 503
    assert service.identity.registered(doc)
    assert len(await service.raw_chunks(doc)) == 2
    assert await team.delete(doc) == 204
    await team.nothing_here()


async def test_delete_deregister_fails_chunks_gone_registration_kept_then_retry(
    service: Service, team: Team
) -> None:
    doc = await _indexed(service, team)
    service.identity.faults.fail("DELETE", LOOKUP)
    assert await team.delete(doc) == 503
    assert service.identity.faults.pending() == 0
    assert service.identity.registered(doc)  # known, and nothing to find
    assert await service.raw_chunks(doc) == []
    assert await team.admin_finds() == set()
    assert await team.delete(doc) == 204
    assert not service.identity.registered(doc)
    assert await team.delete(doc) == 404  # and again: nothing left to do


async def test_delete_when_someone_deregistered_meanwhile_succeeds(
    service: Service, team: Team
) -> None:
    doc = await _indexed(service, team)
    service.identity.faults.fail("DELETE", LOOKUP, status=404)
    assert await team.delete(doc) == 204
    assert await service.raw_chunks(doc) == []


@pytest.mark.invariant(8)
async def test_invariant_8_orphan_chunks_are_never_claimed_and_an_admin_delete_removes_them(
    service: Service, team: Team
) -> None:
    # Chunks whose resource the identity service does not know can no longer be written;
    # they remain possible as data of earlier versions, or of a resource deregistered
    # behind the store's back. Simulate that: index, then deregister in the service only.
    doc = str(uuid.uuid4())
    await lifecycle(service, team.owner).index_resource(doc, chunks(f"{WORD} orphan"))
    service.identity.emulator.deregister("document", uuid.UUID(doc), service_name=SERVICE)
    assert await team.admin_finds() == {doc}
    assert await service.found(team.owner, WORD) == set()  # not even its writer sees it
    # Another member cannot claim the id (registering would hand them the chunks) ...
    thief = service.person("editor", team.ws)
    with pytest.raises(ResourceConflictError):
        await lifecycle(service, thief).index_resource(doc, chunks(f"{WORD} mine"))
    assert not service.identity.registered(doc)
    assert await team.delete(doc, thief) == 404
    assert await team.delete(doc) == 404  # the owner cannot remove it: not registered
    assert len(await service.raw_chunks(doc)) == 1
    assert await team.delete(doc, team.admin) == 204  # an admin cleans the orphan up
    assert await service.raw_chunks(doc) == []
    assert await team.delete(doc, team.admin) == 404  # and then it is unknown
    await team.nothing_here()
