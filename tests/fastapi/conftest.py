"""The example docs service end to end: real HTTP to a Sentinel emulator, every backend.

The identity service is the test kit's emulator on uvicorn (real HTTP, the SDK's real
``PermissionClient``), behind :class:`PathFaults`, an ASGI wrapper that fails chosen
endpoints (``POST /permissions/register``, ...) so the lifecycle tests can break one
step at a time. The app is ``examples.fastapi_service`` built by ``create_app``, its
lifespan run for real, called through httpx's ASGI transport. One app per backend for
the session; every test works in fresh workspaces, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sentinel_auth.types import AuthenticatedUser

from examples.fastapi_service.app import create_app
from examples.fastapi_service.settings import Settings
from sentinel_vectors.fastapi import STATE_ATTR, VectorStores
from sentinel_vectors.testing import PermissionServiceEmulator, SigningKeys, make_user
from sentinel_vectors.testing.faults import PathFaults
from sentinel_vectors.testing.server import EmulatorServer
from sentinel_vectors.testing.servers.postgres import PostgresServer

SERVICE = "docs-service"
SERVICE_KEY = "sk-docs-service-test"
BACKENDS = ["chroma", "qdrant", "pgvector"] + (
    ["qdrant-server"] if os.environ.get("QDRANT_URL") else []
)
"""Qdrant runs in local mode, and against a server too when ``QDRANT_URL`` is set."""


@dataclass
class Identity:
    """The emulated identity service: its URL, state and fault switches."""

    url: str
    emulator: PermissionServiceEmulator
    faults: PathFaults
    keys: SigningKeys

    def registered(self, resource_id: str) -> bool:
        """Whether the document is registered."""
        return self.emulator.get("document", uuid.UUID(resource_id), SERVICE) is not None

    def records_in(self, workspace: uuid.UUID) -> list[str]:
        """Ids of the documents registered in ``workspace``."""
        return [str(r.resource_id) for r in self.emulator.records() if r.workspace_id == workspace]


def serve_identity(keys: SigningKeys) -> tuple[Identity, EmulatorServer]:
    """Start an emulator with fault switches on uvicorn (stop it with ``server.stop()``)."""
    emulator = PermissionServiceEmulator(keys, service_name=SERVICE, service_key=SERVICE_KEY)
    faults = PathFaults(emulator)
    server = EmulatorServer(faults).start()
    return Identity(server.url, emulator, faults, keys), server


@pytest.fixture(scope="session")
def identity(sentinel_keys: SigningKeys) -> Iterator[Identity]:
    """The emulator with fault switches, on uvicorn for the whole session."""
    ident, server = serve_identity(sentinel_keys)
    yield ident
    server.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(identity: Identity) -> Iterator[None]:
    """Every test starts and ends without injected faults."""
    identity.faults.clear()
    yield
    identity.faults.clear()
    identity.emulator.fail_with_status = identity.emulator.fail_times = None
    identity.emulator.delay_seconds = 0.0


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    """A user of the service and their bearer token."""

    user: AuthenticatedUser
    token: str

    @property
    def id(self) -> uuid.UUID:
        return self.user.user_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# --------------------------------------------------------------------------- service


@dataclass
class Service:
    """The running example app (one backend) and helpers to drive it over HTTP."""

    backend: str
    app: FastAPI
    http: httpx.AsyncClient
    identity: Identity
    people: list[Person] = field(default_factory=list)

    @property
    def stores(self) -> VectorStores:
        stores: VectorStores = getattr(self.app.state, STATE_ATTR)
        return stores

    def person(self, role: str, workspace: uuid.UUID, groups: tuple[uuid.UUID, ...] = ()) -> Person:
        user, token = make_user(
            self.identity.keys, workspace_id=workspace, role=role, groups=groups
        )
        return Person(user, token)

    async def create(
        self, who: Person, content: str, *, visibility: str = "workspace", title: str = "doc"
    ) -> str:
        """POST /documents; returns the new id (asserts 201)."""
        r = await self.http.post(
            "/documents",
            json={"title": title, "content": content, "visibility": visibility},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def search(self, who: Person, q: str, k: int = 100) -> httpx.Response:
        """GET /documents/search."""
        return await self.http.get(
            "/documents/search", params={"q": q, "k": k}, headers=who.headers
        )

    async def found(self, who: Person, q: str, k: int = 100) -> set[str]:
        """Ids of the documents a search returns (asserts 200)."""
        r = await self.search(who, q, k)
        assert r.status_code == 200, r.text
        return {hit["document_id"] for hit in r.json()["results"]}

    async def share(
        self, who: Person, doc: str, grantee_type: str, grantee: uuid.UUID, permission: str = "view"
    ) -> httpx.Response:
        """POST /documents/{doc}/share."""
        return await self.http.post(
            f"/documents/{doc}/share",
            json={
                "grantee_type": grantee_type,
                "grantee_id": str(grantee),
                "permission": permission,
            },
            headers=who.headers,
        )

    async def raw_chunks(self, resource_id: str) -> list[dict[str, Any]]:
        """Metadata of every stored chunk of ``resource_id``, read natively (no scope)."""
        return await raw_where(self.stores, "resource_id", resource_id)

    async def raw_in(self, workspace: uuid.UUID) -> list[dict[str, Any]]:
        """Metadata of every stored chunk of ``workspace``, read natively (no scope)."""
        return await raw_where(self.stores, "workspace_id", str(workspace))


async def raw_where(stores: VectorStores, key: str, value: str) -> list[dict[str, Any]]:
    """Metadata of every chunk in the ``documents`` store whose ``key`` is ``value``, unscoped."""
    backend: Any = stores.backend("documents")
    if hasattr(backend, "engine"):  # pgvector
        from sqlalchemy import select

        table = backend.model
        column = table.c[key] if key in table.c else table.c.meta[key].astext
        async with backend.engine.connect() as conn:
            rows = (await conn.execute(select(table).where(column == value))).mappings()
        return [
            {
                **row["meta"],
                "workspace_id": str(row["workspace_id"]),
                "owner_id": str(row["owner_id"]),
                "resource_id": str(row["resource_id"]),
            }
            for row in rows
        ]
    if hasattr(backend, "collection"):  # Chroma
        got = await asyncio.to_thread(
            backend.collection.get, where={key: value}, include=["metadatas"]
        )
        return [dict(m) for m in got["metadatas"]]
    from qdrant_client import models

    records, _ = await backend.client.scroll(
        backend.collection_name,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))]
        ),
        limit=10_000,
        with_payload=True,
    )
    return [dict(r.payload or {}) for r in records]


def settings_for(identity: Identity, backend: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of the example app against the emulator."""
    values: dict[str, Any] = {
        "identity_service_url": identity.url,
        "identity_service_key": SERVICE_KEY,
        "public_key": identity.keys.public_pem,
        "service_name": SERVICE,
        "backend": backend,
        "data_dir": str(data_dir),
        # Generous: fifty concurrent searches on a loaded 2-core machine must not time out;
        # the tests of the timeout itself set their own (test_unavailable.py).
        "permission_timeout": 15.0,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings, identity: Identity) -> AsyncIterator[Service]:
    """The example app with its lifespan running, and an HTTP client to it."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://docs.test", timeout=30
        ) as http,
    ):
        svc = Service(settings.backend, app, http, identity)
        yield svc
        if settings.backend == "pgvector":  # leave a shared server (DATABASE_URL) clean
            pg: Any = svc.stores.backend("documents")
            async with pg.engine.begin() as conn:
                await conn.run_sync(pg.model.drop)


@pytest.fixture(scope="session", params=BACKENDS)
async def service(
    request: pytest.FixtureRequest, identity: Identity, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The example service on one backend, for the whole session."""
    backend = str(request.param)
    data = tmp_path_factory.mktemp(f"docs-{backend}")
    kind = "qdrant" if backend == "qdrant-server" else backend
    settings = settings_for(identity, kind, data, **store_options(request, backend))
    async with running(settings, identity) as svc:
        yield svc


def store_options(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    """Settings a backend needs beyond the defaults: a server and a fresh table/collection."""
    if backend == "qdrant-server":
        return {"store_url": os.environ["QDRANT_URL"], "collection": f"docs_{uuid.uuid4().hex}"}
    if backend != "pgvector":
        return {}
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return {
        "store_url": server.sqlalchemy_url("asyncpg"),
        "collection": f"docs_{uuid.uuid4().hex[:12]}",
    }
