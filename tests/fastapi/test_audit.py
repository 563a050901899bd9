"""Audit events through the FastAPI layer: one setting, the request id on every event.

No ``from __future__ import annotations`` here: FastAPI resolves the routes' annotations.
"""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from qdrant_client import AsyncQdrantClient, models
from sentinel_auth import Sentinel

from sentinel_vectors.errors import AuditError
from sentinel_vectors.fastapi import VectorStores, add_exception_handlers, scoped_store, status_for
from sentinel_vectors_qdrant import QdrantBackend, ScopedQdrantClient, ensure_collection
from tests.fastapi.conftest import SERVICE, SERVICE_KEY, Identity
from tests.fastapi.test_dependencies import person, register


def build_app(identity: Identity, setting: str) -> tuple[FastAPI, list[VectorStores]]:
    sentinel = Sentinel(
        base_url=identity.url, service_name=SERVICE, service_key=SERVICE_KEY, mode="proxy"
    )
    get_auth = sentinel.get_auth
    installed: list[VectorStores] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = AsyncQdrantClient(":memory:")
        params = models.VectorParams(size=4, distance=models.Distance.COSINE)
        await ensure_collection(client, "docs", params)
        stores = VectorStores(sentinel.permissions, audit=setting)  # the one setting
        stores.add("docs", QdrantBackend(client, "docs", resource_type="document"))
        stores.install(app)
        installed.append(stores)
        async with sentinel.lifespan(app):  # type: ignore[attr-defined]  # SDK mistypes it
            yield
        stores.close()
        await client.close()

    app = FastAPI(lifespan=lifespan)
    sentinel.protect(app)
    add_exception_handlers(app)
    Docs = Annotated[ScopedQdrantClient, Depends(scoped_store("docs", auth=get_auth))]

    @app.post("/documents/{doc_id}")
    async def put(doc_id: uuid.UUID, docs: Docs) -> dict[str, Any]:
        point = models.PointStruct(
            id=f"{doc_id}:0", vector=[1.0, 0.0, 0.0, 0.0], payload={"resource_id": str(doc_id)}
        )
        await docs.upsert("docs", points=[point])
        return {"ok": True}

    @app.get("/search")
    async def search(docs: Docs) -> dict[str, Any]:
        res = await docs.query_points("docs", query=[1.0, 0.0, 0.0, 0.0], limit=5)
        return {"n": len(res.points)}

    return app, installed


async def test_events_carry_the_request_id_and_go_where_the_setting_says(
    identity: Identity, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    app, installed = build_app(identity, f"logging,jsonl:{path}")
    ws = uuid.uuid4()
    owner = person(identity, "editor", ws)
    doc = uuid.uuid4()
    register(identity, "document", doc, owner.user)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        r = await http.post(f"/documents/{doc}", headers={**owner.headers, "X-Request-ID": "req-1"})
        assert r.status_code == 200, r.text
        r = await http.get("/search", headers={**owner.headers, "X-Request-ID": "req-2"})
        assert r.json() == {"n": 1}
        r = await http.get("/search", headers=owner.headers)  # no id: one is made
        assert r.status_code == 200
        assert installed[0].auditor is not None
        assert installed[0].auditor.flush(10)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(x["kind"], x["request_id"]) for x in lines[:2]] == [
        ("write", "req-1"),
        ("read", "req-2"),
    ]
    assert lines[2]["kind"] == "read"
    assert len(lines[2]["request_id"]) == 32  # a fresh uuid4 hex
    assert {x["workspace_id"] for x in lines} == {str(ws)}
    assert lines[0]["ids"] == [f"{doc}:0"]


def test_a_failed_audit_is_a_503_and_a_bad_setting_is_refused_at_start_up() -> None:
    assert status_for(AuditError("x")) == 503
    with pytest.raises(ValueError, match="unknown audit setting"):
        VectorStores(audit="syslog")
