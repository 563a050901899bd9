"""What the real Sentinel service answers, through the example service: the right status.

The emulator answers as Sentinel 0.10.2 does (a second share to a grantee is a 500, a
share to a non-member a 400, a rate limit a 429, a resource whose owner was deleted has
``owner_id: null``); the example service, through ``sentinel_vectors.identity`` and the
exception handlers, must say what happened instead of "identity service unavailable".
The app talks to the emulator with the SDK's real ``PermissionClient`` over HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import jwt
import pytest

from sentinel_vectors import request_auth
from sentinel_vectors.errors import AccessDeniedError
from sentinel_vectors.lifecycle import ResourceLifecycle
from tests.fastapi.conftest import SERVICE, Person, Service
from tests.fastapi.test_lifecycle import chunks, permissions_of

WORD = "answers"

# The identity answers do not depend on the store: one backend is enough.
pytestmark = pytest.mark.parametrize("service", ["chroma"], indirect=True)


@pytest.fixture(autouse=True)
def _emulator_defaults(service: Service) -> Iterator[None]:
    yield
    service.identity.emulator.limit_rate(None)
    service.identity.emulator.drop_next(0)


def share_of(svc: Service, doc: str, grantee: uuid.UUID) -> str | None:
    record = svc.identity.emulator.get("document", uuid.UUID(doc), SERVICE)
    assert record is not None
    return next((s.permission for s in record.shares if s.grantee_id == grantee), None)


async def test_second_share_to_a_grantee_is_409_unshare_first_and_keeps_the_share(
    service: Service,
) -> None:
    ws = uuid.uuid4()
    owner, friend = service.person("editor", ws), service.person("viewer", ws)
    doc = await service.create(owner, f"{WORD} reshare", visibility="private")
    assert (await service.share(owner, doc, "user", friend.id, "edit")).status_code == 200

    for permission in ("view", "edit"):  # downgrade, and the same again
        r = await service.share(owner, doc, "user", friend.id, permission)
        assert r.status_code == 409, r.text
        assert "unshare first" in r.json()["detail"]
        assert share_of(service, doc, friend.id) == "edit"


async def test_share_to_a_non_member_or_foreign_group_is_400_and_stores_nothing(
    service: Service,
) -> None:
    ws = uuid.uuid4()
    owner = service.person("editor", ws)
    stranger = service.person("viewer", uuid.uuid4())
    foreign_group = uuid.uuid4()
    service.person("viewer", uuid.uuid4(), groups=(foreign_group,))
    doc = await service.create(owner, f"{WORD} stranger", visibility="private")

    for kind, grantee in [
        ("user", stranger.id),
        ("user", uuid.uuid4()),
        ("group", foreign_group),
        ("group", uuid.uuid4()),
    ]:
        r = await service.share(owner, doc, kind, grantee)
        assert r.status_code == 400, (kind, r.text)
        assert "retry" not in r.json()["detail"].lower()
        assert "retry-after" not in r.headers
    record = service.identity.emulator.get("document", uuid.UUID(doc), SERVICE)
    assert record is not None
    assert record.shares == ()


async def test_rate_limited_identity_service_is_429_with_retry_after(service: Service) -> None:
    ws = uuid.uuid4()
    owner = service.person("editor", ws)
    doc = await service.create(owner, f"{WORD} limited")
    service.identity.emulator.limit_rate(1)
    assert doc in await service.found(owner, WORD)  # one accessible() call: allowed

    search = await service.search(owner, WORD)
    assert search.status_code == 429, search.text
    assert int(search.headers["retry-after"]) >= 1
    assert "results" not in search.json()
    share = await service.share(owner, doc, "user", service.person("viewer", ws).id)
    assert share.status_code == 429, share.text
    assert int(share.headers["retry-after"]) >= 1


async def test_a_dropped_pooled_connection_is_retried_once_for_reads(service: Service) -> None:
    ws = uuid.uuid4()
    owner = service.person("editor", ws)
    doc = await service.create(owner, f"{WORD} dropped")

    service.identity.emulator.drop_next(1)
    assert doc in await service.found(owner, WORD)

    service.identity.emulator.drop_next(2)  # the retry fails too: an outage, fail closed
    r = await service.search(owner, WORD)
    assert r.status_code == 503, r.text


async def test_owner_deleted_admin_still_reindexes_and_deletes_others_may_not(
    service: Service,
) -> None:
    ws = uuid.uuid4()
    owner = service.person("editor", ws)
    admin, editor = service.person("admin", ws), service.person("editor", ws)
    doc = await service.create(owner, f"{WORD} orphan")
    service.identity.emulator.delete_user(owner.id)
    acl = await permissions_of(service).get_resource_acl("document", uuid.UUID(doc))
    assert acl["owner_id"] is None
    assert doc in await service.found(admin, WORD)

    def lifecycle_of(who: Person) -> ResourceLifecycle:
        auth = request_auth(who.user, who.token, permissions_of(service))
        return service.stores.lifecycle("documents", auth)

    with pytest.raises(AccessDeniedError):
        await lifecycle_of(editor).index_resource(doc, chunks(f"{WORD} taken over"))
    result = await lifecycle_of(admin).index_resource(doc, chunks(f"{WORD} re-indexed"))
    assert result.created is False
    assert (
        await service.http.delete(f"/documents/{doc}", headers=editor.headers)
    ).status_code == 403
    assert (
        await service.http.delete(f"/documents/{doc}", headers=admin.headers)
    ).status_code == 204
    assert not service.identity.registered(doc)


async def test_revoked_token_or_deactivated_user_is_401_a_bad_service_key_503(
    service: Service,
) -> None:
    ws = uuid.uuid4()
    owner, other = service.person("editor", ws), service.person("viewer", ws)
    await service.create(owner, f"{WORD} revoked")
    emulator = service.identity.emulator
    emulator.revoke_token(jwt.decode(owner.token, options={"verify_signature": False})["jti"])
    r = await service.search(owner, WORD)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert "results" not in r.json()

    emulator.deactivate_user(other.id)
    try:
        r = await service.search(other, WORD)
        assert r.status_code == 401, r.text
    finally:
        emulator.activate_user(other.id)
    assert (await service.search(other, WORD)).status_code == 200

    # A 401 about the service key is the deployment's fault, not the user's: 503.
    permissions = permissions_of(service)
    key = permissions.service_key
    permissions.service_key = "not-the-key"
    try:
        r = await service.search(other, WORD)
        assert r.status_code == 503, r.text
    finally:
        permissions.service_key = key
