"""The write side on every backend: the write rule (invariant 8), hidden = absent (9).

Through the raw scoped wrapper (native method names, free-form metadata and ids); the same
rules through the chunk index and the lifecycle are in the conformance suite
(``sentinel_vectors.testing.conformance``).

Issue #10's findings, each as an attack by a member of workspace A who controls every
argument of the raw scoped wrapper and of the lifecycle, on the example service's real
store (Chroma server, Qdrant local mode or server, PostgreSQL + pgvector):

1. a write of a resource the identity service does not know (or of another workspace,
   or hidden from the writer) is refused, with one answer for all, nothing written;
2. ``delete_resource`` leaves nothing of the resource behind, whoever wrote its chunks
   and whatever else their metadata says;
4. an id ``"<resource>:..."`` cannot hold another resource's record: nobody squats the
   next chunk ids of a document, and re-indexing converges;
6. an update or delete by id of a record the caller may not view answers exactly like
   an absent id.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from qdrant_client import models

from sentinel_vectors import request_auth
from sentinel_vectors.embedders import HashingEmbedder
from sentinel_vectors.errors import AccessDeniedError, InvalidInputError
from sentinel_vectors.index import Chunk, chunk_id
from sentinel_vectors.lifecycle import ResourceLifecycle
from tests.fastapi.conftest import SERVICE, Person, Service

EMBED = HashingEmbedder(64)
WORD = "writerule"


def auth_of(svc: Service, who: Person) -> Any:
    """A fresh request of ``who`` (new RequestAuth, no request cache)."""
    permissions = svc.stores.permissions
    assert permissions is not None
    return request_auth(who.user, who.token, permissions)


def lifecycle(svc: Service, who: Person) -> ResourceLifecycle:
    return svc.stores.lifecycle("documents", auth_of(svc, who))


def chunks(*texts: str) -> list[Chunk]:
    return [Chunk(t, v) for t, v in zip(texts, EMBED.embed_documents(list(texts)), strict=True)]


class Raw:
    """The raw scoped wrapper of ``documents`` for one request, the same calls everywhere."""

    def __init__(self, svc: Service, who: Person) -> None:
        self.svc = svc
        self.store: Any = svc.stores.scoped("documents", auth_of(svc, who))
        self.name = getattr(svc.stores.backend("documents"), "collection_name", "")

    @property
    def qdrant(self) -> bool:
        return self.svc.backend.startswith("qdrant")

    async def upsert(self, rid: str, resource: str, text: str, **meta: Any) -> None:
        vector = EMBED.embed_query(text)
        metadata = {"resource_id": resource, **meta}
        if self.qdrant:
            point = models.PointStruct(id=rid, vector=vector, payload={**metadata, "text": text})
            await self.store.upsert(self.name, [point])
        else:
            await self.store.upsert(
                ids=[rid], embeddings=[vector], metadatas=[metadata], documents=[text]
            )

    async def update(self, rid: str, **meta: Any) -> object:
        if self.qdrant:
            return await self.store.set_payload(self.name, meta, [rid])
        return await self.store.update(ids=[rid], metadatas=[meta])

    async def delete(self, rid: str) -> object:
        if self.qdrant:
            return await self.store.delete(self.name, [rid])
        if self.svc.backend == "chroma":
            return await self.store.delete(ids=[rid])
        return await self.store.delete([rid])


def registered(svc: Service, rid: str) -> bool:
    return svc.identity.emulator.get("document", uuid.UUID(rid), service_name=SERVICE) is not None


class Members:
    """Workspace A: owner, editor, viewer-role member, admin. Workspace B: admin, editor."""

    def __init__(self, svc: Service) -> None:
        self.ws = uuid.uuid4()
        self.owner = svc.person("editor", self.ws)
        self.editor = svc.person("editor", self.ws)
        self.viewer = svc.person("viewer", self.ws)
        self.admin = svc.person("admin", self.ws)
        ws_b = uuid.uuid4()
        self.b_admin = svc.person("admin", ws_b)
        self.b_editor = svc.person("editor", ws_b)


@pytest.fixture
def members(service: Service) -> Members:
    return Members(service)


def share(svc: Service, doc: str, who: Person, permission: str) -> None:
    svc.identity.emulator.share(
        "document", uuid.UUID(doc), "user", who.id, permission, service_name=SERVICE
    )


def unshare(svc: Service, doc: str, who: Person) -> None:
    svc.identity.emulator.unshare("document", uuid.UUID(doc), "user", who.id, service_name=SERVICE)


# --------------------------------------------------------------------------- finding 1


@pytest.mark.invariant(8)
async def test_invariant_8_writes_need_a_resource_registered_here_and_editable(
    service: Service, members: Members
) -> None:
    owner, editor = members.owner, members.editor
    private = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} private"), visibility="private"
        )
    ).resource_id
    viewable = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} viewable"), visibility="workspace"
        )
    ).resource_id
    foreign = (
        await lifecycle(service, members.b_editor).index_resource(
            uuid.uuid4(), chunks(f"{WORD} foreign")
        )
    ).resource_id
    unknown = str(uuid.uuid4())
    stored = {r: await service.raw_chunks(r) for r in (private, viewable, foreign, unknown)}
    for who, refused in (
        (editor, [unknown, foreign, private]),  # workspace visibility: editors may edit
        (members.viewer, [unknown, foreign, private, viewable]),
        (members.admin, [unknown, foreign]),
    ):
        answers = set()
        for resource in refused:
            with pytest.raises(AccessDeniedError) as err:
                await Raw(service, who).upsert(chunk_id(resource, 9), resource, "planted")
            answers.add((type(err.value), str(err.value).replace(resource, "<id>")))
        assert len(answers) == 1, (who.user.workspace_role, answers)
    for resource, before in stored.items():
        assert await service.raw_chunks(resource) == before, "nothing was written"
    assert not registered(service, unknown)
    # The take-over of finding 1 is gone: nothing of `unknown` exists to be claimed.
    assert await service.raw_chunks(unknown) == []
    # Registered and editable: allowed, for members through the edit share, for admins
    # through the registration in their workspace.
    share(service, private, editor, "edit")
    await Raw(service, editor).upsert(chunk_id(private, 5), private, "edited")
    await Raw(service, members.admin).upsert(chunk_id(viewable, 5), viewable, "by admin")


# --------------------------------------------------------------------------- finding 2


@pytest.mark.invariant(8)
async def test_invariant_8_delete_resource_removes_every_record_of_it(
    service: Service, members: Members
) -> None:
    owner, editor = members.owner, members.editor
    doc = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} one", f"{WORD} two")
        )
    ).resource_id
    share(service, doc, editor, "edit")
    raw = Raw(service, editor)
    # Another editor writes through the raw wrapper, with free-form metadata that says
    # it belongs elsewhere, and changes the bookkeeping of an indexed chunk.
    await raw.upsert(chunk_id(doc, 7), doc, f"{WORD} extra", chunk_of=str(uuid.uuid4()))
    await raw.update(chunk_id(doc, 0), chunk_of=str(uuid.uuid4()), chunk_index=99)
    if raw.qdrant:
        await raw.store.clear_payload(raw.name, [chunk_id(doc, 1)])
    assert len(await service.raw_chunks(doc)) == 3
    # The editor loses access; the owner deletes the document.
    unshare(service, doc, editor)
    await lifecycle(service, owner).delete_resource(doc)
    assert await service.raw_chunks(doc) == []
    assert not registered(service, doc)
    # The former editor re-registers the id: nothing written before is there to read.
    again = await lifecycle(service, editor).index_resource(doc, chunks(f"{WORD} fresh"))
    assert again.created
    assert [c["chunk_index"] for c in await service.raw_chunks(doc)] == [0]
    assert await service.found(editor, WORD) == {doc}


# --------------------------------------------------------------------------- finding 4


@pytest.mark.invariant(4)
@pytest.mark.invariant(8)
async def test_invariant_8_chunk_ids_cannot_be_squatted_and_reindexing_converges(
    service: Service, members: Members
) -> None:
    owner, editor = members.owner, members.editor
    doc = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} a", f"{WORD} b")
        )
    ).resource_id
    share(service, doc, editor, "view")
    mine = (
        await lifecycle(service, editor).index_resource(uuid.uuid4(), chunks(f"{WORD} mine"))
    ).resource_id
    # The viewer of `doc` pre-writes its next chunk ids under a resource of its own.
    for i in (2, 3):
        with pytest.raises(AccessDeniedError):
            await Raw(service, editor).upsert(chunk_id(doc, i), mine, "squat")
        assert [c["chunk_index"] for c in await service.raw_chunks(mine)] == [0]
        assert len(await service.raw_chunks(doc)) == 2
    # The owner's re-index with more chunks succeeds, and again (a retry converges).
    texts = [f"{WORD} {n}" for n in ("a", "b", "c", "d")]
    for _ in range(2):
        done = await lifecycle(service, owner).index_resource(doc, chunks(*texts))
        assert not done.created
        got = sorted(c["chunk_index"] for c in await service.raw_chunks(doc))
        assert got == [0, 1, 2, 3]
    # Fewer chunks: the surplus goes.
    await lifecycle(service, owner).index_resource(doc, chunks(f"{WORD} only"))
    assert [c["chunk_index"] for c in await service.raw_chunks(doc)] == [0]


# --------------------------------------------------------------------------- finding 6


@pytest.mark.invariant(9)
async def test_invariant_9_update_or_delete_of_a_hidden_record_is_an_absent_id(
    service: Service, members: Members
) -> None:
    owner, editor = members.owner, members.editor
    hidden = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} secret"), visibility="private"
        )
    ).resource_id
    viewable = (
        await lifecycle(service, owner).index_resource(
            uuid.uuid4(), chunks(f"{WORD} shared"), visibility="private"
        )
    ).resource_id
    share(service, viewable, editor, "view")
    share(service, viewable, members.viewer, "view")
    absent = chunk_id(str(uuid.uuid4()), 0)
    before = await service.raw_chunks(hidden)
    for who in (editor, members.viewer):
        raw = Raw(service, who)
        for op in (raw.update, raw.delete):
            kwargs: dict[str, Any] = {"topic": "x"} if op == raw.update else {}
            assert await op(chunk_id(hidden, 0), **kwargs) == await op(absent, **kwargs)
        # A record the caller may view but not edit is still refused, by name.
        with pytest.raises(AccessDeniedError):
            await raw.delete(chunk_id(viewable, 0))
    assert await service.raw_chunks(hidden) == before
    if service.backend.startswith("qdrant"):
        raw = Raw(service, editor)
        answers = set()
        for rid in (chunk_id(hidden, 0), absent):
            with pytest.raises(InvalidInputError) as err:
                await raw.store.update_vectors(
                    raw.name, [models.PointVectors(id=rid, vector=EMBED.embed_query("v"))]
                )
            answers.add(str(err.value).replace(rid, "<id>"))
        assert len(answers) == 1
