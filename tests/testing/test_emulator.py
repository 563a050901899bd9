"""The permission-service emulator, driven over real HTTP by the real Sentinel SDK client."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.permissions import PermissionCheck
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors.testing import (
    EmulatorServer,
    Principal,
    RunningEmulator,
    SigningKeys,
    UserFactory,
    accessible_ids,
    check_permission,
    mint_token,
)
from tests.testing.targets import status_of

pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]

DOC = "doc"


@pytest.fixture
def auth_for(client: PermissionClient) -> Callable[[tuple[AuthenticatedUser, str]], RequestAuth]:
    def make(pair: tuple[AuthenticatedUser, str]) -> RequestAuth:
        user, token = pair
        return RequestAuth(user=user, _token=token, _permissions=client)

    return make


# --------------------------------------------------------------------------- ownership, visibility


async def test_owner_sees_own_private_resource_and_other_members_do_not(
    sentinel_user: UserFactory, client: PermissionClient, auth_for: Callable[..., RequestAuth]
) -> None:
    owner = auth_for(sentinel_user("viewer"))
    colleague = auth_for(sentinel_user("editor"))
    doc = uuid.uuid4()
    await owner.register_resource(DOC, doc, visibility="private")

    assert await owner.accessible(DOC, "view") == ([doc], False)
    assert await owner.accessible(DOC, "edit") == ([doc], False)
    assert await owner.can(DOC, doc, "edit") is True

    assert await colleague.accessible(DOC, "view") == ([], False)
    assert await colleague.accessible(DOC, "edit") == ([], False)
    assert await colleague.can(DOC, doc, "view") is False


async def test_workspace_visibility_gives_view_to_all_and_edit_to_editors(
    sentinel: RunningEmulator,
    sentinel_user: UserFactory,
    auth_for: Callable[..., RequestAuth],
) -> None:
    owner, _ = sentinel_user("viewer")
    viewer = auth_for(sentinel_user("viewer"))
    editor = auth_for(sentinel_user("editor"))
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id)

    assert await viewer.accessible(DOC, "view") == ([doc], False)
    assert await viewer.accessible(DOC, "edit") == ([], False)
    assert await viewer.can(DOC, doc, "edit") is False
    assert await editor.accessible(DOC, "view") == ([doc], False)
    assert await editor.accessible(DOC, "edit") == ([doc], False)
    assert await editor.can(DOC, doc, "edit") is True


async def test_accessible_only_counts_same_service_type_and_workspace(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("editor")
    ws = sentinel_user.workspace_id
    mine = uuid.uuid4()
    em = sentinel.emulator
    em.register(DOC, mine, ws, user.user_id)
    em.register("note", uuid.uuid4(), ws, user.user_id)
    em.register(DOC, uuid.uuid4(), ws, user.user_id, service_name="other-service")
    em.register(DOC, uuid.uuid4(), uuid.uuid4(), user.user_id)  # another workspace

    assert await client.accessible(token, DOC, "view", ws) == ([mine], False)
    assert await client.accessible(token, DOC, "edit", ws) == ([mine], False)


async def test_accessible_limit_caps_the_ids(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("viewer")
    docs = [uuid.uuid4() for _ in range(3)]
    for doc in docs:
        sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, user.user_id)

    # The real service's UNION ... LIMIT has no order: any 2 of the 3, not the first 2.
    ids, full = await client.accessible(token, DOC, "view", sentinel_user.workspace_id, limit=2)
    assert full is False
    assert len(ids) == 2
    assert set(ids) <= set(docs)


# --------------------------------------------------------------------------- shares


async def test_user_share_view_and_edit(
    sentinel: RunningEmulator, sentinel_user: UserFactory, auth_for: Callable[..., RequestAuth]
) -> None:
    owner = auth_for(sentinel_user("viewer"))
    friend = auth_for(sentinel_user("viewer"))
    doc = uuid.uuid4()
    await owner.register_resource(DOC, doc, visibility="private")

    await owner.share(DOC, doc, "user", friend.user_id, "view")
    assert await friend.accessible(DOC, "view") == ([doc], False)
    assert await friend.accessible(DOC, "edit") == ([], False)

    friend_later = auth_for((friend.user, friend._token))  # fresh per-request cache
    # A permission changes as a real client must change it: unshare, then share.
    await owner.unshare(DOC, doc, "user", friend.user_id)
    await owner.share(DOC, doc, "user", friend.user_id, "edit")
    assert await friend_later.accessible(DOC, "edit") == ([doc], False)
    acl = sentinel.emulator.get(DOC, doc)
    assert acl is not None
    assert [(s.grantee_id, s.permission) for s in acl.shares] == [(friend.user_id, "edit")]


@pytest.mark.parametrize(
    ("permission", "expected_edit"),
    [("view", False), ("edit", True)],
)
async def test_group_share_reaches_group_members_only(
    permission: str,
    expected_edit: bool,
    sentinel: RunningEmulator,
    sentinel_user: UserFactory,
    client: PermissionClient,
) -> None:
    group = uuid.uuid4()
    owner, _ = sentinel_user("viewer")
    _, member_token = sentinel_user("viewer", groups=[group])
    _, outsider_token = sentinel_user("viewer", groups=[uuid.uuid4()])
    ws = sentinel_user.workspace_id
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, ws, owner.user_id, visibility="private")
    sentinel.emulator.share(DOC, doc, "group", group, permission)

    assert await client.accessible(member_token, DOC, "view", ws) == ([doc], False)
    expected_ids = [doc] if expected_edit else []
    assert await client.accessible(member_token, DOC, "edit", ws) == (expected_ids, False)
    assert await client.can(member_token, DOC, doc, "edit") is expected_edit
    assert await client.accessible(outsider_token, DOC, "view", ws) == ([], False)


async def test_unshare_revokes_and_unsharing_again_is_500(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, owner_token = sentinel_user("viewer")
    friend, friend_token = sentinel_user("viewer")
    ws = sentinel_user.workspace_id
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, ws, owner.user_id, visibility="private")
    sentinel.emulator.share(DOC, doc, "user", friend.user_id, "view")
    assert await client.can(friend_token, DOC, doc, "view") is True

    assert await client.unshare(owner_token, DOC, doc, "user", friend.user_id) == {"status": "ok"}
    assert await client.can(friend_token, DOC, doc, "view") is False
    # The real service raises "Share not found" unhandled: 500, not 404.
    assert await status_of(client.unshare(owner_token, DOC, doc, "user", friend.user_id)) == 500


async def test_share_by_non_owner_non_admin_is_403(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, _ = sentinel_user("viewer")
    _, editor_token = sentinel_user("editor")
    _, admin_token = sentinel_user("admin")
    _, foreign_admin_token = sentinel_user("admin", workspace_id=uuid.uuid4())
    grantee = sentinel_user("viewer")[0].user_id  # a member: shares to others are a 400
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id)

    assert await status_of(client.share(editor_token, DOC, doc, "user", grantee)) == 403
    assert await status_of(client.share(foreign_admin_token, DOC, doc, "user", grantee)) == 403
    acl = sentinel.emulator.get(DOC, doc)
    assert acl is not None
    assert acl.shares == ()

    assert await client.share(admin_token, DOC, doc, "user", grantee) == {"status": "ok"}
    acl = sentinel.emulator.get(DOC, doc)
    assert acl is not None
    assert [s.grantee_id for s in acl.shares] == [grantee]


async def test_share_unknown_permission_id_is_404(
    sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    _, token = sentinel_user("owner")
    async with httpx.AsyncClient(base_url=sentinel.url) as http:
        response = await http.post(
            f"/permissions/{uuid.uuid4()}/share",
            headers={"X-Service-Key": sentinel.service_key, "Authorization": f"Bearer {token}"},
            json={"grantee_type": "user", "grantee_id": str(uuid.uuid4()), "permission": "view"},
        )
    assert response.status_code == 404


async def test_visibility_change_needs_only_the_service_key_like_the_real_service(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, _ = sentinel_user("viewer")
    _, viewer_token = sentinel_user("viewer")
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id)
    assert await client.can(viewer_token, DOC, doc, "view") is True

    # The real service does not check the user here: the caller service must.
    record = await client.update_visibility(viewer_token, DOC, doc, "private")
    assert record["visibility"] == "private"
    assert await client.can(viewer_token, DOC, doc, "view") is False


# --------------------------------------------------------------------------- privileged roles


@pytest.mark.parametrize("role", ["admin", "owner"])
async def test_admin_and_owner_roles_get_full_access(
    role: str, sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    someone, _ = sentinel_user("viewer")
    _, token = sentinel_user(role)
    ws = sentinel_user.workspace_id
    docs = [uuid.uuid4() for _ in range(3)]
    for doc in docs:
        sentinel.emulator.register(DOC, doc, ws, someone.user_id, visibility="private")
    sentinel.emulator.register(DOC, uuid.uuid4(), uuid.uuid4(), someone.user_id)  # other ws

    assert await client.accessible(token, DOC, "edit", ws) == ([], True)
    assert await client.accessible(token, DOC, "view", ws, limit=2) == (docs[:2], True)
    assert await client.accessible(token, DOC, "view", ws, limit=10) == (docs, True)
    assert await client.can(token, DOC, docs[0], "edit") is True


async def test_editor_and_viewer_never_get_full_access(
    sentinel_user: UserFactory, client: PermissionClient
) -> None:
    for role in ("viewer", "editor"):
        _, token = sentinel_user(role)
        assert await client.accessible(token, DOC, "view", sentinel_user.workspace_id) == (
            [],
            False,
        )


# --------------------------------------------------------------------------- isolation, auth


async def test_cross_workspace_accessible_is_403(
    sentinel_user: UserFactory, client: PermissionClient
) -> None:
    _, token = sentinel_user("owner")
    assert await status_of(client.accessible(token, DOC, "view", uuid.uuid4())) == 403


async def test_resource_of_another_workspace_is_never_allowed(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    me, token = sentinel_user("owner")
    doc = uuid.uuid4()
    # Even owned by the caller and shared with them: wrong workspace.
    sentinel.emulator.register(DOC, doc, uuid.uuid4(), me.user_id)
    sentinel.emulator.share(DOC, doc, "user", me.user_id, "edit")
    results = await client.check(
        token,
        [
            PermissionCheck(sentinel.service_name, DOC, doc, "view"),
            PermissionCheck(sentinel.service_name, DOC, doc, "edit"),
        ],
    )
    assert [r.allowed for r in results] == [False, False]


@pytest.mark.parametrize("service_key", ["wrong-key", None])
async def test_wrong_or_missing_service_key_is_401(
    service_key: str | None, sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    user, token = sentinel_user("owner")
    async with PermissionClient(sentinel.url, sentinel.service_name, service_key) as bad:
        register = bad.register_resource(DOC, uuid.uuid4(), user.workspace_id, user.user_id)
        assert await status_of(register) == 401
        assert await status_of(bad.accessible(token, DOC, "view", user.workspace_id)) == 401
    assert sentinel.emulator.records() == []


async def test_service_key_is_scoped_to_its_service(
    sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    user, token = sentinel_user("owner")
    async with PermissionClient(sentinel.url, "other-service", sentinel.service_key) as other:
        register = other.register_resource(DOC, uuid.uuid4(), user.workspace_id, user.user_id)
        assert await status_of(register) == 403
        assert await status_of(other.accessible(token, DOC, "view", user.workspace_id)) == 403


def _token(keys: SigningKeys, user: AuthenticatedUser, **overrides: object) -> str:
    return mint_token(
        keys,
        user_id=user.user_id,
        workspace_id=user.workspace_id,
        workspace_slug=user.workspace_slug,
        workspace_role=user.workspace_role,
        email=user.email,
        name=user.name,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("expired", {"ttl_seconds": -60}),
        ("wrong audience", {"audience": "sentinel:admin"}),
        ("wrong token type", {"token_type": "refresh"}),
    ],
)
async def test_bad_tokens_are_401(
    case: str,
    overrides: dict[str, object],
    sentinel: RunningEmulator,
    sentinel_user: UserFactory,
    client: PermissionClient,
) -> None:
    user, _ = sentinel_user("owner")
    token = _token(sentinel.keys, user, **overrides)
    assert await status_of(client.accessible(token, DOC, "view", user.workspace_id)) == 401, case


async def test_token_signed_by_another_key_is_401(
    sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, _ = sentinel_user("owner")
    forged = _token(SigningKeys.generate(), user)
    assert await status_of(client.accessible(forged, DOC, "view", user.workspace_id)) == 401
    assert await status_of(client.can(forged, DOC, uuid.uuid4(), "view")) == 401


async def test_invalid_action_is_rejected_with_422(
    sentinel_user: UserFactory, client: PermissionClient
) -> None:
    _, token = sentinel_user("owner")
    assert await status_of(client.can(token, DOC, uuid.uuid4(), "delete")) == 422


# --------------------------------------------------------------------------- lifecycle


async def test_register_is_idempotent_and_answers_201(
    sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    owner, _ = sentinel_user("viewer")
    other, _ = sentinel_user("viewer")
    doc = uuid.uuid4()
    body = {
        "service_name": sentinel.service_name,
        "resource_type": DOC,
        "resource_id": str(doc),
        "workspace_id": str(sentinel_user.workspace_id),
        "owner_id": str(owner.user_id),
        "visibility": "private",
    }
    headers = {"X-Service-Key": sentinel.service_key}
    async with httpx.AsyncClient(base_url=sentinel.url, headers=headers) as http:
        first = await http.post("/permissions/register", json=body)
        again = await http.post(
            "/permissions/register",
            json={**body, "owner_id": str(other.user_id), "visibility": "workspace"},
        )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["owner_id"] == str(owner.user_id)
    assert again.json()["visibility"] == "private"
    assert len(sentinel.emulator.records()) == 1


async def test_deregister_removes_the_resource_and_its_shares(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, owner_token = sentinel_user("viewer")
    friend, friend_token = sentinel_user("viewer")
    ws = sentinel_user.workspace_id
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id, "private")
    await client.share(owner_token, DOC, doc, "user", friend.user_id, "edit")
    assert await client.accessible(friend_token, DOC, "edit", ws) == ([doc], False)

    await client.deregister_resource(DOC, doc)

    assert sentinel.emulator.get(DOC, doc) is None
    assert await client.accessible(owner_token, DOC, "view", ws) == ([], False)
    assert await client.accessible(friend_token, DOC, "view", ws) == ([], False)
    assert await status_of(client.get_resource_acl(DOC, doc)) == 404
    assert await status_of(client.deregister_resource(DOC, doc)) == 404


async def test_acl_endpoints_and_enriched_profiles(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, owner_token = sentinel_user("viewer", name="Ada", email="ada@example.test")
    friend, _ = sentinel_user("viewer")
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, sentinel_user.workspace_id, owner.user_id)
    sentinel.emulator.add_profile(friend.user_id, name="Bob", email="bob@example.test")
    await client.share(owner_token, DOC, doc, "user", friend.user_id, "view")

    acl = await client.get_resource_acl(DOC, doc)
    assert acl["owner_id"] == str(owner.user_id)
    assert [(s["grantee_id"], s["permission"]) for s in acl["shares"]] == [
        (str(friend.user_id), "view")
    ]
    enriched = await client.get_enriched_resource_acl(DOC, doc)
    assert (enriched["owner_name"], enriched["owner_email"]) == ("Ada", "ada@example.test")
    share = enriched["shares"][0]
    assert (share["grantee_name"], share["grantee_email"], share["granted_by_name"]) == (
        "Bob",
        "bob@example.test",
        "Ada",
    )
    assert await status_of(client.get_enriched_resource_acl(DOC, uuid.uuid4())) == 404


# --------------------------------------------------------------------------- fault injection


async def test_fail_with_status_answers_every_permissions_call(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("viewer")
    sentinel.emulator.fail_with_status = 503
    assert await status_of(client.accessible(token, DOC, "view", user.workspace_id)) == 503
    assert await status_of(client.can(token, DOC, uuid.uuid4(), "view")) == 503

    sentinel.emulator.fail_with_status = None
    assert await client.accessible(token, DOC, "view", user.workspace_id) == ([], False)


async def test_fail_next_fails_only_that_many_calls(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("viewer")
    sentinel.emulator.fail_next(500, times=2)
    for _ in range(2):
        assert await status_of(client.accessible(token, DOC, "view", user.workspace_id)) == 500
    assert await client.accessible(token, DOC, "view", user.workspace_id) == ([], False)
    assert sentinel.emulator.calls == [("POST", "/permissions/accessible")] * 3


async def test_delay_provokes_client_timeout(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("viewer")
    client._client.timeout = httpx.Timeout(0.1)
    sentinel.emulator.delay_seconds = 0.5
    with pytest.raises(httpx.TimeoutException):
        await client.accessible(token, DOC, "view", user.workspace_id)


async def test_reset_clears_state_and_faults(
    sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    user, _ = sentinel_user("viewer")
    em = sentinel.emulator
    em.register(DOC, uuid.uuid4(), user.workspace_id, user.user_id)
    em.fail_with_status, em.delay_seconds = 500, 1.0
    em.reset()
    assert (em.records(), em.fail_with_status, em.delay_seconds, em.calls) == ([], None, 0.0, [])


# --------------------------------------------------------------------------- pure rules, kit


def test_rules_directly() -> None:
    ws, owner, reader = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    group = uuid.uuid4()
    from sentinel_vectors.testing import PermissionServiceEmulator

    em = PermissionServiceEmulator(SigningKeys.generate())
    private = em.register(DOC, uuid.uuid4(), ws, owner, "private")
    shared = em.register(DOC, uuid.uuid4(), ws, owner, "private")
    em.share(DOC, shared.resource_id, "group", group, "edit")
    records = em.records()

    viewer = Principal(reader, ws, "viewer", frozenset({group}))
    assert check_permission(em.get(DOC, private.resource_id), viewer, "view") is False
    assert check_permission(em.get(DOC, shared.resource_id), viewer, "edit") is True
    assert check_permission(None, viewer, "view") is False
    kw: dict[str, Any] = {"service_name": em.service_name, "resource_type": DOC}
    assert accessible_ids(records, viewer, action="edit", **kw) == ([shared.resource_id], False)
    admin = Principal(reader, ws, "admin")
    assert accessible_ids(records, admin, action="view", **kw) == ([], True)
    assert accessible_ids(records, admin, action="view", limit=1, **kw) == (
        [private.resource_id],
        True,
    )
    outsider = Principal(owner, uuid.uuid4(), "owner")
    assert accessible_ids(records, outsider, action="view", limit=5, **kw) == ([], True)
    with pytest.raises(KeyError):
        em.share(DOC, uuid.uuid4(), "user", reader, "view")


def test_sentinel_user_factory_mints_matching_tokens(
    sentinel_user: UserFactory, sentinel_keys: SigningKeys
) -> None:
    group = uuid.uuid4()
    user, token = sentinel_user("editor", groups=[group])
    other, _ = sentinel_user()
    claims = jwt.decode(
        token, sentinel_keys.public_pem, algorithms=["RS256"], audience="sentinel:access"
    )
    assert claims["sub"] == str(user.user_id)
    assert claims["wid"] == str(sentinel_user.workspace_id)
    assert (claims["wrole"], claims["groups"], claims["type"]) == ("editor", [str(group)], "access")
    assert (claims["email"], claims["name"], claims["wslug"]) == (
        user.email,
        user.name,
        user.workspace_slug,
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert other.workspace_id == user.workspace_id
    assert other.user_id != user.user_id
    assert other.workspace_role == "viewer"


def test_jwks_endpoint_serves_the_signing_key(
    sentinel: RunningEmulator, sentinel_user: UserFactory
) -> None:
    _, token = sentinel_user("viewer")
    key = jwt.PyJWKClient(sentinel.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="sentinel:access")
    assert claims["wrole"] == "viewer"


def test_emulator_server_binds_a_free_port_and_stops() -> None:
    async def app(scope: dict[str, object], receive: object, send: Callable[..., object]) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[misc]
        await send({"type": "http.response.body", "body": b"pong"})  # type: ignore[misc]

    with EmulatorServer(app) as server:  # type: ignore[arg-type]
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url).text == "pong"
        port = server.port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass
