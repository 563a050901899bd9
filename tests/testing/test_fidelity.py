"""The emulator answers as the real Sentinel service (0.10.2) does, where that surprises.

Each behaviour was observed on the real service (run from source on PostgreSQL and
Redis) and is read in its ``service/`` source: routes in ``api/permission_routes.py``,
rules in ``services/permission_service.py``, token checks in ``api/dependencies.py``,
the rate limit in ``middleware/rate_limit.py``. Driven by the SDK's real
``PermissionClient`` (or raw HTTP where the SDK hides the answer).
"""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from sentinel_auth import PermissionClient

from sentinel_vectors.testing import (
    DEFAULT_ISSUER,
    SENTINEL_VERSION,
    RunningEmulator,
    SigningKeys,
    UserFactory,
    make_user,
    mint_token,
    run_emulator,
)
from tests.testing.targets import status_of

pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]

DOC = "doc"


def test_the_emulated_version_is_named() -> None:
    assert SENTINEL_VERSION == "0.10.2"


# --------------------------------------------------------------------------- shares


@pytest.mark.parametrize(
    ("first", "second"), [("edit", "view"), ("view", "edit"), ("view", "view")]
)
async def test_second_share_to_a_grantee_is_500_and_keeps_the_first(
    first: str,
    second: str,
    sentinel: RunningEmulator,
    sentinel_user: UserFactory,
    client: PermissionClient,
) -> None:
    owner, owner_token = sentinel_user("viewer")
    friend, friend_token = sentinel_user("viewer")
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id, "private")
    await client.share(owner_token, DOC, doc, "user", friend.user_id, first)

    assert (
        await status_of(client.share(owner_token, DOC, doc, "user", friend.user_id, second)) == 500
    )
    acl = await client.get_resource_acl(DOC, doc)
    assert [(s["grantee_id"], s["permission"]) for s in acl["shares"]] == [
        (str(friend.user_id), first)
    ]
    assert await client.can(friend_token, DOC, doc, "edit") is (first == "edit")
    # The seeding API refuses a second share as well.
    with pytest.raises(ValueError, match="unshare first"):
        sentinel.emulator.share(DOC, doc, "user", friend.user_id, second)


async def test_share_to_non_member_foreign_group_or_unknown_id_is_400(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, owner_token = sentinel_user("viewer")
    other_ws = uuid.uuid4()
    stranger, _ = sentinel_user("viewer", workspace_id=other_ws)
    foreign_group, own_group = uuid.uuid4(), uuid.uuid4()
    sentinel_user("viewer", workspace_id=other_ws, groups=[foreign_group])
    sentinel.emulator.add_group(own_group, sentinel_user.workspace_id, name="team")
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id, "private")

    for kind, grantee in [
        ("user", stranger.user_id),
        ("user", uuid.uuid4()),
        ("group", foreign_group),
        ("group", uuid.uuid4()),
    ]:
        assert await status_of(client.share(owner_token, DOC, doc, kind, grantee)) == 400
    assert (await client.get_resource_acl(DOC, doc))["shares"] == []
    # A group of the resource's workspace (known from add_group) is fine.
    await client.share(owner_token, DOC, doc, "group", own_group)


async def test_unshare_without_a_share_is_500(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, owner_token = sentinel_user("viewer")
    friend, _ = sentinel_user("viewer")
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id)
    assert await status_of(client.unshare(owner_token, DOC, doc, "user", friend.user_id)) == 500


# --------------------------------------------------------------------------- register


async def test_register_with_unknown_workspace_or_owner_is_500_existing_is_returned(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, _ = sentinel_user("editor")
    ws = sentinel_user.workspace_id
    assert (
        await status_of(client.register_resource(DOC, uuid.uuid4(), uuid.uuid4(), owner.user_id))
        == 500
    )
    assert await status_of(client.register_resource(DOC, uuid.uuid4(), ws, uuid.uuid4())) == 500
    assert sentinel.emulator.records() == []

    doc = uuid.uuid4()
    first = await client.register_resource(DOC, doc, ws, owner.user_id)
    # ON CONFLICT DO NOTHING: an existing resource is returned, the foreign keys never bite.
    again = await client.register_resource(DOC, doc, uuid.uuid4(), uuid.uuid4())
    assert again == first
    assert again["owner_id"] == str(owner.user_id)


# --------------------------------------------------------------------------- tokens


def test_minted_tokens_carry_the_issuer(sentinel_keys: SigningKeys) -> None:
    _, token = make_user(sentinel_keys, workspace_id=uuid.uuid4())
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == DEFAULT_ISSUER


def _token(keys: SigningKeys, ws: uuid.UUID, **overrides: object) -> str:
    fields: dict[str, object] = {
        "user_id": uuid.uuid4(),
        "workspace_id": ws,
        "workspace_slug": "ws",
        "workspace_role": "viewer",
        "email": "x@example.test",
        "name": "X",
    }
    issuer = overrides.pop("issuer", DEFAULT_ISSUER)
    extra = overrides.pop("extra_claims", None)
    fields.update(overrides)
    return mint_token(keys, issuer=issuer, extra_claims=extra, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"issuer": None}, 401),
        ({"issuer": "https://someone-else.example"}, 401),
        ({"extra_claims": {"sub": "not-a-uuid"}}, 500),
        ({"extra_claims": {"groups": ["not-a-uuid"]}}, 500),
    ],
)
async def test_token_issuer_and_claim_checks(
    overrides: dict[str, object],
    status: int,
    sentinel: RunningEmulator,
    client: PermissionClient,
) -> None:
    ws = uuid.uuid4()
    token = _token(sentinel.keys, ws, **overrides)
    assert await status_of(client.accessible(token, DOC, "view", ws)) == status


async def test_revoked_token_and_deactivated_user_are_401(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    ws = sentinel_user.workspace_id
    user, token = sentinel_user("viewer")
    _, other_token = sentinel_user("viewer", user_id=user.user_id)
    assert await status_of(client.accessible(token, DOC, "view", ws)) is None

    sentinel.emulator.revoke_token(jwt.decode(token, options={"verify_signature": False})["jti"])
    assert await status_of(client.accessible(token, DOC, "view", ws)) == 401
    assert await status_of(client.accessible(other_token, DOC, "view", ws)) is None

    sentinel.emulator.deactivate_user(user.user_id)
    assert await status_of(client.accessible(other_token, DOC, "view", ws)) == 401
    sentinel.emulator.activate_user(user.user_id)
    assert await status_of(client.accessible(other_token, DOC, "view", ws)) is None


# --------------------------------------------------------------------------- owners, ACLs


async def test_deleted_owner_is_null_in_acls_and_cannot_register(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, _ = sentinel_user("editor")
    _admin, admin_token = sentinel_user("admin")
    friend, _ = sentinel_user("viewer")
    ws = sentinel_user.workspace_id
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id, "private")
    sentinel.emulator.share(DOC, doc, "user", friend.user_id, granted_by=owner.user_id)

    sentinel.emulator.delete_user(owner.user_id)
    acl = await client.get_resource_acl(DOC, doc)
    assert acl["owner_id"] is None
    assert acl["shares"][0]["granted_by"] is None
    enriched = await client.get_enriched_resource_acl(DOC, doc)
    assert (enriched["owner_id"], enriched["owner_name"], enriched["owner_email"]) == (
        None,
        None,
        None,
    )
    assert await client.can(admin_token, DOC, doc, "edit") is True
    assert await status_of(client.register_resource(DOC, uuid.uuid4(), ws, owner.user_id)) == 500


async def test_enriched_acl_names_groups_and_timestamps_end_in_z(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    owner, _ = sentinel_user("editor", name="Olivia Owner")
    group = uuid.uuid4()
    sentinel.emulator.add_group(group, sentinel_user.workspace_id, name="Research")
    doc = uuid.uuid4()
    sentinel.emulator.register(DOC, doc, sentinel_user.workspace_id, owner.user_id)
    sentinel.emulator.share(DOC, doc, "group", group, "view")

    enriched = await client.get_enriched_resource_acl(DOC, doc)
    assert enriched["owner_name"] == "Olivia Owner"
    [share] = enriched["shares"]
    assert (share["grantee_name"], share["grantee_email"]) == ("Research", None)
    assert share["granted_by_name"] == "Olivia Owner"
    plain = await client.get_resource_acl(DOC, doc)
    for stamp in (plain["created_at"], plain["shares"][0]["granted_at"], share["granted_at"]):
        assert stamp.endswith("Z"), stamp


# --------------------------------------------------------------------------- accessible


async def test_accessible_limit_is_an_arbitrary_subset_for_members_only(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    user, token = sentinel_user("viewer")
    _, admin_token = sentinel_user("admin")
    ws = sentinel_user.workspace_id
    docs = [uuid.uuid4() for _ in range(12)]
    for doc in docs:
        sentinel.emulator.register(DOC, doc, ws, user.user_id)

    answers = [await client.accessible(token, DOC, "view", ws, limit=3) for _ in range(6)]
    for ids, full in answers:
        assert full is False
        assert len(ids) == 3
        assert len(set(ids)) == 3
        assert set(ids) <= set(docs)
    # Not the first three in registration order every time (the real service's order
    # is its query plan's; the emulator's shuffle is seeded, so this is deterministic).
    assert any(ids != docs[:3] for ids, _ in answers)
    assert await client.accessible(admin_token, DOC, "view", ws, limit=3) == (docs[:3], True)
    everything, _ = await client.accessible(token, DOC, "view", ws)
    assert sorted(everything) == sorted(docs)


# --------------------------------------------------------------------------- rate limit, drops


async def test_rate_limit_is_off_by_default_and_429_with_retry_after_when_on(
    sentinel_keys: SigningKeys,
) -> None:
    ws = uuid.uuid4()
    _, token = make_user(sentinel_keys, workspace_id=ws)
    with run_emulator(sentinel_keys) as running:
        async with running.permission_client() as c:
            for _ in range(35):  # above the real default of 30
                await c.accessible(token, DOC, "view", ws)
    with run_emulator(sentinel_keys, rate_limit_per_minute=3) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            headers = {"X-Service-Key": running.service_key, "Authorization": f"Bearer {token}"}
            body = {
                "service_name": running.service_name,
                "resource_type": DOC,
                "action": "view",
                "workspace_id": str(ws),
            }
            for _ in range(3):
                assert (
                    await http.post("/permissions/accessible", json=body, headers=headers)
                ).status_code == 200
            r = await http.post("/permissions/accessible", json=body, headers=headers)
            assert r.status_code == 429
            assert r.json() == {"detail": "Too many requests"}
            assert 1 <= int(r.headers["retry-after"]) <= 60
            running.emulator.limit_rate(None)
            assert (
                await http.post("/permissions/accessible", json=body, headers=headers)
            ).status_code == 200


async def test_drop_next_breaks_the_pooled_connection(
    sentinel: RunningEmulator, sentinel_user: UserFactory, client: PermissionClient
) -> None:
    _, token = sentinel_user("viewer")
    ws = sentinel_user.workspace_id
    sentinel.emulator.drop_next(1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.accessible(token, DOC, "view", ws)
    assert await client.accessible(token, DOC, "view", ws) == ([], False)
