"""Fail closed over HTTP: a slow or stopped identity service is a 503 with no results.

Each backend gets an app of its own pointed at an emulator of its own, which the test
first slows down past the permission timeout and then stops.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sentinel_vectors.testing import SigningKeys
from tests.fastapi.conftest import (
    BACKENDS,
    Person,
    Service,
    running,
    serve_identity,
    settings_for,
    store_options,
)

WORD = "unavailable"
BODY = {"detail": "The permission service is unavailable; the request was refused. Retry later."}


async def refused_everywhere(
    svc: Service, people: list[Person], doc: str, ws: uuid.UUID, *, share: bool
) -> None:
    """Every route answers 503 without data, and the store is left as it was.

    ``share`` goes through the SDK (via ``sentinel_vectors.identity.share``), whose own
    HTTP timeout is 5 s: it is checked only when the service is down, not merely slow.
    """
    before = sorted(json.dumps(m, sort_keys=True) for m in await svc.raw_in(ws))
    for who in people:
        r = await svc.search(who, WORD)
        assert r.status_code == 503, r.text
        assert r.json() == BODY
        assert r.headers["retry-after"] == "1"
    owner = people[0]
    r = await svc.http.post(
        "/documents", json={"title": "t", "content": f"{WORD} new"}, headers=owner.headers
    )
    assert r.status_code == 503, r.text
    r = await svc.http.delete(f"/documents/{doc}", headers=owner.headers)
    assert r.status_code == 503, r.text
    if share:
        r = await svc.share(owner, doc, "user", people[1].id)
        assert r.status_code == 503, r.text
        assert r.json() == BODY  # through sentinel_vectors.identity, like every other call
    assert sorted(json.dumps(m, sort_keys=True) for m in await svc.raw_in(ws)) == before


@pytest.mark.invariant(6)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_invariant_6_slow_then_stopped_identity_service_is_503_with_no_results(
    backend: str, request: pytest.FixtureRequest, sentinel_keys: SigningKeys, tmp_path: Path
) -> None:
    identity, server = serve_identity(sentinel_keys)
    try:
        settings = settings_for(
            identity, backend, tmp_path, permission_timeout=0.2, **store_options(request, backend)
        )
        async with running(settings, identity) as svc:
            ws = uuid.uuid4()
            owner = svc.person("editor", ws)
            viewer = svc.person("viewer", ws)
            admin = svc.person("admin", ws)
            secret = await svc.create(owner, f"{WORD} secret", visibility="private")
            public = await svc.create(owner, f"{WORD} public")
            assert await svc.found(viewer, WORD) == {public}
            assert await svc.found(admin, WORD) == {secret, public}

            identity.emulator.delay_seconds = 0.5  # past the 0.2 s permission timeout
            await refused_everywhere(svc, [owner, viewer, admin], public, ws, share=False)
            identity.emulator.delay_seconds = 0.0
            assert await svc.found(viewer, WORD) == {public}

            server.stop()
            await refused_everywhere(svc, [owner, viewer, admin], public, ws, share=True)
    finally:
        server.stop()
