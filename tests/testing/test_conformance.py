"""The same HTTP-level checks against the emulator and, when reachable, a real Sentinel.

Every test here runs on ``emulator``; with ``SENTINEL_URL`` (and the seeding variables
of :mod:`tests.testing.targets`) set it runs on ``real`` too, so a difference between
the emulator and the service it stands for fails a test instead of hiding in a
passing suite. Only the SDK's ``PermissionClient`` and seeding through the target.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sentinel_auth import PermissionClient

from sentinel_vectors import identity, request_auth
from sentinel_vectors.errors import (
    DuplicateShareError,
    IdentityRequestError,
    IdentityTokenRejectedError,
)
from sentinel_vectors.scope import Scope
from sentinel_vectors.testing import RunningEmulator
from tests.testing.targets import SENTINEL_URL, EmulatorTarget, RealTarget, Target, status_of

pytest_plugins = ["sentinel_vectors.testing.pytest_plugin"]

DOC = "conformance-doc"


@pytest.fixture(
    params=[
        "emulator",
        pytest.param(
            "real", marks=pytest.mark.skipif(not SENTINEL_URL, reason="SENTINEL_URL is not set")
        ),
    ]
)
def target(request: pytest.FixtureRequest, sentinel_emulator_clean: RunningEmulator) -> Target:
    if request.param == "real":
        return RealTarget.from_env()
    return EmulatorTarget(sentinel_emulator_clean)


@pytest.fixture
async def client(target: Target) -> AsyncIterator[PermissionClient]:
    async with target.client() as c:
        yield c


async def test_reshare_is_500_keeps_the_first_and_maps_to_duplicate_share(
    target: Target, client: PermissionClient
) -> None:
    ws = await target.workspace()
    owner, owner_token = await target.member(ws, "editor")
    friend, _ = await target.member(ws, "viewer")
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id, "private")
    await client.share(owner_token, DOC, doc, "user", friend.user_id, "edit")

    assert (
        await status_of(client.share(owner_token, DOC, doc, "user", friend.user_id, "view")) == 500
    )
    shares = (await client.get_resource_acl(DOC, doc))["shares"]
    assert [(s["grantee_id"], s["permission"]) for s in shares] == [(str(friend.user_id), "edit")]

    from sentinel_auth import RequestAuth

    auth = RequestAuth(user=owner, _token=owner_token, _permissions=client)
    with pytest.raises(DuplicateShareError, match="unshare first"):
        await identity.share(auth, DOC, doc, "user", friend.user_id, "view")
    await client.unshare(owner_token, DOC, doc, "user", friend.user_id)
    await identity.share(auth, DOC, doc, "user", friend.user_id, "view")
    shares = (await client.get_resource_acl(DOC, doc))["shares"]
    assert [s["permission"] for s in shares] == ["view"]
    await client.deregister_resource(DOC, doc)


async def test_share_outside_the_workspace_is_400_and_maps_to_a_request_error(
    target: Target, client: PermissionClient
) -> None:
    ws, other = await target.workspace(), await target.workspace()
    owner, owner_token = await target.member(ws, "editor")
    stranger, _ = await target.member(other, "viewer")
    foreign_group = await target.group(other, "foreign")
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id, "private")
    for kind, grantee in [
        ("user", stranger.user_id),
        ("user", uuid.uuid4()),
        ("group", foreign_group),
        ("group", uuid.uuid4()),
    ]:
        assert await status_of(client.share(owner_token, DOC, doc, kind, grantee)) == 400
    assert (await client.get_resource_acl(DOC, doc))["shares"] == []

    from sentinel_auth import RequestAuth

    auth = RequestAuth(user=owner, _token=owner_token, _permissions=client)
    with pytest.raises(IdentityRequestError):
        await identity.share(auth, DOC, doc, "user", stranger.user_id)
    await client.deregister_resource(DOC, doc)


async def test_unshare_without_share_and_register_with_unknown_ids_are_500(
    target: Target, client: PermissionClient
) -> None:
    ws = await target.workspace()
    owner, owner_token = await target.member(ws, "editor")
    friend, _ = await target.member(ws, "viewer")
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id)
    assert await status_of(client.unshare(owner_token, DOC, doc, "user", friend.user_id)) == 500
    assert (
        await status_of(client.register_resource(DOC, uuid.uuid4(), uuid.uuid4(), owner.user_id))
        == 500
    )
    assert await status_of(client.register_resource(DOC, uuid.uuid4(), ws, uuid.uuid4())) == 500
    await client.deregister_resource(DOC, doc)


async def test_tokens_issuer_claims_revocation_and_deactivation(
    target: Target, client: PermissionClient
) -> None:
    ws = await target.workspace()
    user, token = await target.member(ws, "viewer")
    _, other_token = await target.member(ws, "viewer")
    assert await status_of(client.accessible(token, DOC, "view", ws)) is None

    no_iss = target.token(iss=None, sub=str(user.user_id), wid=str(ws))
    wrong_iss = target.token(iss="https://elsewhere.example", sub=str(user.user_id), wid=str(ws))
    assert await status_of(client.accessible(no_iss, DOC, "view", ws)) == 401
    assert await status_of(client.accessible(wrong_iss, DOC, "view", ws)) == 401
    bad_sub = target.token(sub="not-a-uuid", wid=str(ws))
    bad_group = target.token(sub=str(user.user_id), wid=str(ws), groups=["not-a-uuid"])
    assert await status_of(client.accessible(bad_sub, DOC, "view", ws)) == 500
    assert await status_of(client.accessible(bad_group, DOC, "view", ws)) == 500

    await target.revoke(token)
    assert await status_of(client.accessible(token, DOC, "view", ws)) == 401
    scope = Scope.of(request_auth(user, token, client), resource_type=DOC)
    with pytest.raises(IdentityTokenRejectedError):
        await scope.access("view")
    assert await status_of(client.accessible(other_token, DOC, "view", ws)) is None
    await target.deactivate(user.user_id)
    _, second_token = await target.member(ws, "viewer")
    deactivated = target.token(sub=str(user.user_id), wid=str(ws))
    assert await status_of(client.accessible(deactivated, DOC, "view", ws)) == 401
    assert await status_of(client.accessible(second_token, DOC, "view", ws)) is None


async def test_deleted_owner_is_null_and_enriched_acls_name_groups_with_z_timestamps(
    target: Target, client: PermissionClient
) -> None:
    ws = await target.workspace()
    group = await target.group(ws, "research")
    owner, owner_token = await target.member(ws, "editor")
    doc = uuid.uuid4()
    await client.register_resource(DOC, doc, ws, owner.user_id)
    await client.share(owner_token, DOC, doc, "group", group, "view")
    enriched = await client.get_enriched_resource_acl(DOC, doc)
    [share] = enriched["shares"]
    assert share["grantee_name"] is not None
    assert share["grantee_name"].startswith("research")
    assert enriched["created_at"].endswith("Z")
    assert share["granted_at"].endswith("Z")

    await target.delete_user(owner.user_id)
    acl = await client.get_resource_acl(DOC, doc)
    assert acl["owner_id"] is None
    assert acl["shares"][0]["granted_by"] is None
    await client.deregister_resource(DOC, doc)


async def test_accessible_limit_is_a_subset_of_the_right_size(
    target: Target, client: PermissionClient
) -> None:
    ws = await target.workspace()
    owner, token = await target.member(ws, "viewer")
    docs = [uuid.uuid4() for _ in range(6)]
    for doc in docs:
        await client.register_resource(DOC, doc, ws, owner.user_id)
    ids, full = await client.accessible(token, DOC, "view", ws, limit=4)
    assert full is False
    assert len(ids) == 4
    assert set(ids) <= set(docs)
    for doc in docs:
        await client.deregister_resource(DOC, doc)
