"""Who sees, writes and deletes what through the example service, on every backend.

Two workspaces; viewer, editor, admin; private, workspace, user-shared and group-shared
documents, created, shared and deleted over HTTP. Expectations come from
:func:`visible`, an oracle written from Sentinel's rules independently of the emulator
and of the suite.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentinel_vectors.testing import ACCESS_AUDIENCE as AUDIENCE
from sentinel_vectors.testing import SigningKeys, make_user, mint_token
from tests.fastapi.conftest import Identity, Person, Service, running, settings_for

WORD = "quarterly"


@dataclass
class Doc:
    """What the oracle knows of a document."""

    id: str
    workspace: uuid.UUID
    owner: uuid.UUID
    visibility: str
    users: set[uuid.UUID] = field(default_factory=set)
    groups: set[uuid.UUID] = field(default_factory=set)


def visible(doc: Doc, who: Person) -> bool:
    """Sentinel's view rule, restated: same workspace and (admin, owner, workspace-visible,
    or shared with the user or one of their groups)."""
    user = who.user
    if doc.workspace != user.workspace_id:
        return False
    return (
        user.workspace_role in ("admin", "owner")
        or doc.owner == user.user_id
        or doc.visibility == "workspace"
        or user.user_id in doc.users
        or bool(doc.groups & set(user.groups))
    )


class World:
    """Workspace A: owner (editor), editor, viewer, group member (viewer), admin.
    Workspace B: admin and editor. Four documents in A, one in B."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.ws_a, self.ws_b = uuid.uuid4(), uuid.uuid4()
        self.group = uuid.uuid4()
        self.owner = svc.person("editor", self.ws_a)
        self.editor = svc.person("editor", self.ws_a)
        self.viewer = svc.person("viewer", self.ws_a)
        self.member = svc.person("viewer", self.ws_a, groups=(self.group,))
        self.admin = svc.person("admin", self.ws_a)
        self.b_admin = svc.person("admin", self.ws_b)
        self.b_editor = svc.person("editor", self.ws_b)
        self.docs: dict[str, Doc] = {}

    @property
    def people(self) -> dict[str, Person]:
        return {
            "owner": self.owner,
            "editor": self.editor,
            "viewer": self.viewer,
            "group member": self.member,
            "admin": self.admin,
            "admin of B": self.b_admin,
            "editor of B": self.b_editor,
        }

    async def add(self, name: str, who: Person, visibility: str) -> Doc:
        doc_id = await self.svc.create(who, f"{WORD} report {name}", visibility=visibility)
        doc = Doc(doc_id, who.user.workspace_id, who.id, visibility)
        self.docs[name] = doc
        return doc

    async def build(self) -> World:
        await self.add("private", self.owner, "private")
        await self.add("workspace", self.owner, "workspace")
        shared = await self.add("user-shared", self.owner, "private")
        grouped = await self.add("group-shared", self.owner, "private")
        await self.add("b", self.b_editor, "workspace")
        r = await self.svc.share(self.owner, shared.id, "user", self.viewer.id)
        assert r.status_code == 200, r.text
        shared.users.add(self.viewer.id)
        r = await self.svc.share(self.owner, grouped.id, "group", self.group)
        assert r.status_code == 200, r.text
        grouped.groups.add(self.group)
        return self

    def expected(self, who: Person) -> set[str]:
        return {d.id for d in self.docs.values() if visible(d, who)}


@pytest.fixture
async def world(service: Service) -> World:
    return await World(service).build()


@pytest.mark.invariant(1)
async def test_invariant_1_every_role_finds_exactly_what_sentinel_allows(world: World) -> None:
    seen = {name: await world.svc.found(who, WORD) for name, who in world.people.items()}
    expected = {name: world.expected(who) for name, who in world.people.items()}
    assert seen == expected
    # The oracle is not vacuous: each kind of grant is exercised.
    names = {d.id: n for n, d in world.docs.items()}
    assert {names[i] for i in seen["viewer"]} == {"workspace", "user-shared"}
    assert {names[i] for i in seen["group member"]} == {"workspace", "group-shared"}
    assert {names[i] for i in seen["admin"]} == {
        "private",
        "workspace",
        "user-shared",
        "group-shared",
    }
    assert {names[i] for i in seen["admin of B"]} == {"b"}


@pytest.mark.invariant(1)
async def test_invariant_1_search_results_carry_only_visible_text(world: World) -> None:
    r = await world.svc.search(world.viewer, f"{WORD} private")
    assert r.status_code == 200
    for hit in r.json()["results"]:
        assert hit["document_id"] in world.expected(world.viewer)
        assert "private" not in hit["text"]


@pytest.mark.invariant(1)
async def test_invariant_1_a_share_through_the_sdk_takes_effect_and_only_for_the_grantee(
    world: World,
) -> None:
    private = world.docs["private"]
    assert private.id not in await world.svc.found(world.editor, WORD)
    r = await world.svc.share(world.owner, private.id, "user", world.editor.id, "view")
    assert r.status_code == 200, r.text
    private.users.add(world.editor.id)
    assert private.id in await world.svc.found(world.editor, WORD)
    assert private.id not in await world.svc.found(world.viewer, WORD)
    assert private.id not in await world.svc.found(world.b_admin, WORD)


async def test_only_the_owner_or_an_admin_may_share(world: World) -> None:
    private = world.docs["private"].id
    r = await world.svc.share(world.viewer, private, "user", world.viewer.id)
    assert r.status_code == 403, r.text
    r = await world.svc.share(world.b_admin, private, "user", world.b_admin.id)
    assert r.status_code == 403, r.text
    assert private not in await world.svc.found(world.viewer, WORD)
    r = await world.svc.share(world.owner, str(uuid.uuid4()), "user", world.viewer.id)
    assert r.status_code == 404, r.text
    r = await world.svc.share(world.admin, private, "user", world.viewer.id)
    assert r.status_code == 200, r.text
    assert private in await world.svc.found(world.viewer, WORD)


@pytest.mark.invariant(2)
async def test_invariant_2_chunks_are_stamped_with_the_callers_workspace_and_owner(
    world: World,
) -> None:
    doc = world.docs["workspace"]
    chunks = await world.svc.raw_chunks(doc.id)
    assert chunks
    for meta in chunks:
        assert meta["workspace_id"] == str(world.ws_a)
        assert meta["owner_id"] == str(world.owner.id)
        assert meta["resource_id"] == doc.id


async def test_a_viewer_cannot_create_documents(service: Service) -> None:
    ws = uuid.uuid4()
    viewer = service.person("viewer", ws)
    r = await service.http.post(
        "/documents", json={"title": "t", "content": f"{WORD} x"}, headers=viewer.headers
    )
    assert r.status_code == 403, r.text
    assert "editor" in r.json()["detail"]
    assert service.identity.records_in(ws) == []
    admin = service.person("admin", ws)
    assert await service.found(admin, WORD) == set()


@pytest.mark.invariant(4)
async def test_invariant_4_only_the_owner_or_an_admin_may_delete(world: World) -> None:
    svc = world.svc
    public, private = world.docs["workspace"], world.docs["private"]
    for who in (world.editor, world.viewer):
        r = await svc.http.delete(f"/documents/{public.id}", headers=who.headers)
        assert r.status_code == 403, (who.user.workspace_role, r.text)
    assert len(await svc.raw_chunks(public.id)) == 1
    assert svc.identity.registered(public.id)

    r = await svc.http.delete(f"/documents/{public.id}", headers=world.owner.headers)
    assert r.status_code == 204, r.text
    r = await svc.http.delete(f"/documents/{private.id}", headers=world.admin.headers)
    assert r.status_code == 204, r.text
    for doc in (public, private):
        assert await svc.raw_chunks(doc.id) == []
        assert not svc.identity.registered(doc.id)
        for who in world.people.values():
            assert doc.id not in await svc.found(who, WORD)
    r = await svc.http.delete(f"/documents/{public.id}", headers=world.owner.headers)
    assert r.status_code == 404, r.text


@pytest.mark.invariant(9)
async def test_invariant_9_delete_of_a_hidden_or_foreign_document_answers_like_an_unknown_id(
    world: World,
) -> None:
    svc = world.svc
    private, b_doc = world.docs["private"], world.docs["b"]
    cases = {
        # who: documents they cannot see (hidden in their workspace, or another's)
        "editor": (world.editor, [private.id, b_doc.id]),
        "viewer": (world.viewer, [private.id, b_doc.id]),
        "admin of B": (world.b_admin, [private.id, world.docs["workspace"].id]),
        "admin": (world.admin, [b_doc.id]),
    }
    for name, (who, docs) in cases.items():
        answers = set()
        for doc in [*docs, str(uuid.uuid4())]:  # the last one is unknown everywhere
            r = await svc.http.delete(f"/documents/{doc}", headers=who.headers)
            answers.add((r.status_code, r.json()["detail"].replace(doc, "<id>")))
        assert len(answers) == 1, (name, answers)
        assert answers.pop()[0] == 404
    for doc in (private, b_doc, world.docs["workspace"]):
        assert svc.identity.registered(doc.id)
        assert len(await svc.raw_chunks(doc.id)) == 1


# --------------------------------------------------------------------------- tokens


def _tokens(svc: Service, ws: uuid.UUID) -> dict[str, str]:
    user, _ = make_user(svc.identity.keys, workspace_id=ws, role="admin")

    def mint(keys: SigningKeys, *, ttl_seconds: int = 3600, audience: str = AUDIENCE) -> str:
        return mint_token(
            keys,
            user_id=user.user_id,
            workspace_id=ws,
            workspace_slug="ws",
            workspace_role="admin",
            email=user.email,
            name=user.name,
            ttl_seconds=ttl_seconds,
            audience=audience,
        )

    return {
        "expired": mint(svc.identity.keys, ttl_seconds=-60),
        "forged": mint(SigningKeys.generate()),
        "wrong audience": mint(svc.identity.keys, audience="sentinel:m2m"),
        "not a jwt": "not-a-token",
    }


async def test_expired_forged_and_malformed_tokens_are_401(service: Service) -> None:
    ws = uuid.uuid4()
    owner = service.person("editor", ws)
    doc = await service.create(owner, f"{WORD} secret", visibility="workspace")
    for kind, token in _tokens(service, ws).items():
        headers = {"Authorization": f"Bearer {token}"}
        r = await service.http.get("/documents/search", params={"q": WORD}, headers=headers)
        assert r.status_code == 401, (kind, r.text)
        assert "results" not in r.json()
        r = await service.http.post(
            "/documents", json={"title": "t", "content": "x"}, headers=headers
        )
        assert r.status_code == 401, (kind, r.text)
        r = await service.http.delete(f"/documents/{doc}", headers=headers)
        assert r.status_code == 401, (kind, r.text)
    r = await service.http.get("/documents/search", params={"q": WORD})
    assert r.status_code == 401
    assert service.identity.registered(doc)
    assert await service.found(owner, WORD) == {doc}


async def test_a_workspace_outside_allowed_workspaces_is_403(
    identity: Identity, tmp_path: Path
) -> None:
    allowed, other = uuid.uuid4(), uuid.uuid4()
    settings = settings_for(
        identity, "chroma", tmp_path, allowed_workspaces=frozenset({str(allowed)})
    )
    async with running(settings, identity) as svc:
        inside = svc.person("editor", allowed)
        outside = svc.person("admin", other)
        doc = await svc.create(inside, f"{WORD} inside")
        r = await svc.search(outside, WORD)
        assert r.status_code == 403, r.text
        assert r.json() == {"detail": "Workspace not permitted for this service"}
        r = await svc.http.post(
            "/documents", json={"title": "t", "content": WORD}, headers=outside.headers
        )
        assert r.status_code == 403
        assert identity.records_in(other) == []
        assert await svc.found(inside, WORD) == {doc}


# --------------------------------------------------------------------------- concurrency


@pytest.mark.invariant(1)
async def test_invariant_1_fifty_concurrent_searches_across_ten_workspaces_leak_nothing(
    service: Service,
) -> None:
    rng = random.Random(5)
    docs: list[Doc] = []
    searchers: list[Person] = []
    for w in range(10):
        ws, group = uuid.uuid4(), uuid.uuid4()
        owner = service.person("editor", ws)
        viewer = service.person("viewer", ws)
        member = service.person("viewer", ws, groups=(group,))
        admin = service.person("admin", ws)
        editor = service.person("editor", ws)
        for n, visibility in enumerate(("private", "workspace", "private", "private")):
            doc_id = await service.create(owner, f"{WORD} ledger w{w} d{n}", visibility=visibility)
            docs.append(Doc(doc_id, ws, owner.id, visibility))
        shared, grouped = docs[-2], docs[-1]
        assert (await service.share(owner, shared.id, "user", viewer.id)).status_code == 200
        shared.users.add(viewer.id)
        assert (await service.share(owner, grouped.id, "group", group)).status_code == 200
        grouped.groups.add(group)
        searchers += [owner, viewer, member, admin, editor]
    rng.shuffle(searchers)
    assert len(searchers) == 50

    async def one(who: Person) -> tuple[Person, set[str]]:
        return who, await service.found(who, f"{WORD} ledger", k=100)

    results = await asyncio.gather(*(one(who) for who in searchers))
    leaks = []
    for who, found in results:
        expected = {d.id for d in docs if visible(d, who)}
        leaks += [(who.user.workspace_role, doc) for doc in found - expected]
        assert found >= expected, "a search missed documents the caller may view"
    assert leaks == []
    roles = {who.user.workspace_role for who, _ in results}
    assert roles == {"viewer", "editor", "admin"}
