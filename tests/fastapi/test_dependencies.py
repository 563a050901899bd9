"""The FastAPI layer on its own: an app built with the SDK's ``Sentinel`` class.

``Sentinel(mode="proxy")`` protects the app (``JWTAuthMiddleware`` fed by the emulator's
JWKS) and its ``get_auth`` builds each request's ``RequestAuth``. Two named Chroma
collections of different resource types sit behind :class:`VectorStores`; routes use
the native ``ScopedCollection`` through ``scoped_store(...)``.

No ``from __future__ import annotations`` here: the routes' ``Annotated`` aliases are
local to ``build_app``, and FastAPI resolves string annotations in module globals only.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import chromadb
import httpx
import pytest
from fastapi import Depends, FastAPI
from sentinel_auth import RequestAuth, Sentinel, SentinelError
from sentinel_auth.types import AuthenticatedUser

from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.embedders import HashingEmbedder
from sentinel_vectors.errors import (
    AccessDeniedError,
    DimensionMismatchError,
    FilterError,
    MissingAuthError,
    PermissionServiceError,
    ReservedKeyError,
    WriteConflictError,
)
from sentinel_vectors.fastapi import (
    VectorStores,
    add_exception_handlers,
    resource_lifecycle,
    scoped_store,
    status_for,
)
from sentinel_vectors.index import Chunk
from sentinel_vectors.lifecycle import ResourceConflictError, ResourceLifecycle
from sentinel_vectors_chroma import ChromaBackend, ScopedCollection
from tests.fastapi.conftest import SERVICE, SERVICE_KEY, Identity, Person

EMBED = HashingEmbedder(16)


def build_app(identity: Identity, data: Path) -> FastAPI:
    """An app in the SDK's recommended shape, with two named stores."""
    sentinel = Sentinel(
        base_url=identity.url, service_name=SERVICE, service_key=SERVICE_KEY, mode="proxy"
    )
    get_auth = sentinel.get_auth  # read once: one RequestAuth per request for every use

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = chromadb.PersistentClient(path=str(data))
        stores = VectorStores(sentinel.permissions)
        for name, kind in (("documents", "document"), ("notes", "note")):
            collection = client.get_or_create_collection(name, embedding_function=None)
            stores.add(name, ChromaBackend(collection, resource_type=kind))
        stores.install(app)
        async with sentinel.lifespan(app):  # type: ignore[attr-defined]  # SDK mistypes it
            yield

    app = FastAPI(lifespan=lifespan)
    sentinel.protect(app)
    add_exception_handlers(app)
    Docs = Annotated[ScopedCollection, Depends(scoped_store("documents", auth=get_auth))]
    Notes = Annotated[ScopedCollection, Depends(scoped_store("notes", auth=get_auth))]
    Lifecycle = Annotated[ResourceLifecycle, Depends(resource_lifecycle("notes", auth=get_auth))]
    Auth = Annotated[RequestAuth, Depends(get_auth)]

    @app.post("/notes/{note_id}")
    async def put_note(note_id: uuid.UUID, text: str, notes: Lifecycle) -> dict[str, Any]:
        chunk = Chunk(text, EMBED.embed_query(text))
        done = await notes.index_resource(note_id, [chunk], visibility="private")
        return {"created": done.created}

    @app.post("/notes-bulk")
    async def put_notes(texts: list[str], notes: Lifecycle, raw: Notes, auth: Auth) -> Any:
        # The request's RequestAuth caches accessible() before any note exists.
        await auth.accessible("note", "view")
        await auth.accessible("note", "edit")
        created = []
        for text in texts:
            note = uuid.uuid4()
            await notes.index_resource(note, [Chunk(text, EMBED.embed_query(text))])
            created.append(str(note))
        # The raw wrapper of the same request may write to and read the new notes, too.
        await raw.upsert(
            ids=[f"{created[0]}:extra"],
            embeddings=[EMBED.embed_query("extra")],
            documents=["extra"],
            metadatas=[{"resource_id": created[0]}],
        )
        got = await raw.get(include=[])
        return {"created": created, "visible": sorted(got["ids"])}

    @app.get("/{name}/query")
    async def query(
        name: str, q: str, docs: Docs, notes: Notes, auth: Auth, where: str | None = None
    ) -> dict[str, Any]:
        store = docs if name == "documents" else notes
        # The route's own RequestAuth is the store's: its answers are shared.
        assert store.scope.auth is auth
        await auth.accessible(store.scope.resource_type, "view")
        filt = None if where is None else {where: "x"}
        res = await store.query(query_embeddings=[EMBED.embed_query(q)], n_results=10, where=filt)
        return {"ids": res["ids"][0], "type": store.scope.resource_type}

    @app.get("/documents/query-8d")
    async def query_wrong_dimension(docs: Docs) -> dict[str, Any]:
        res = await docs.query(query_embeddings=[[0.1] * 8], n_results=1)
        return {"ids": res["ids"][0]}

    @app.get("/documents/bad-filter")
    async def bad_filter(docs: Docs) -> dict[str, Any]:
        res = await docs.get(where={"topic": {"$regex": "x"}})
        return {"ids": res["ids"]}

    @app.post("/documents/{doc_id}")
    async def add_document(doc_id: uuid.UUID, text: str, docs: Docs) -> dict[str, str]:
        await docs.add(
            ids=[f"{doc_id}:0"],
            embeddings=[EMBED.embed_query(text)],
            documents=[text],
            metadatas=[{"resource_id": str(doc_id)}],
        )
        return {"status": "ok"}

    return app


@pytest.fixture
async def http(identity: Identity, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(identity, tmp_path)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


def person(identity: Identity, role: str, ws: uuid.UUID) -> Person:
    from sentinel_vectors.testing import make_user

    user, token = make_user(identity.keys, workspace_id=ws, role=role)
    return Person(user, token)


def register(identity: Identity, kind: str, rid: uuid.UUID, owner: AuthenticatedUser) -> None:
    identity.emulator.register(
        kind, rid, owner.workspace_id, owner.user_id, "private", service_name=SERVICE
    )


@pytest.mark.invariant(1)
async def test_invariant_1_named_stores_are_scoped_by_their_own_resource_type(
    http: httpx.AsyncClient, identity: Identity
) -> None:
    ws = uuid.uuid4()
    owner, viewer = person(identity, "editor", ws), person(identity, "viewer", ws)
    doc, note = uuid.uuid4(), uuid.uuid4()
    register(identity, "document", doc, owner.user)
    r = await http.post(f"/documents/{doc}", params={"text": "alpha"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await http.post(f"/notes/{note}", params={"text": "alpha"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": True}
    # A share of the *document* grants nothing on the note, and vice versa.
    identity.emulator.share("document", doc, "user", viewer.id, service_name=SERVICE)
    r = await http.get("/documents/query", params={"q": "alpha"}, headers=viewer.headers)
    assert r.json() == {"ids": [f"{doc}:0"], "type": "document"}
    r = await http.get("/notes/query", params={"q": "alpha"}, headers=viewer.headers)
    assert r.json()["ids"] == []
    assert r.json()["type"] == "note"
    r = await http.get("/notes/query", params={"q": "alpha"}, headers=owner.headers)
    assert len(r.json()["ids"]) == 1


async def test_one_request_asks_the_permission_service_once(
    http: httpx.AsyncClient, identity: Identity
) -> None:
    viewer = person(identity, "viewer", uuid.uuid4())
    before = len(identity.emulator.calls)
    r = await http.get("/documents/query", params={"q": "x"}, headers=viewer.headers)
    assert r.status_code == 200, r.text
    assert identity.emulator.calls[before:] == [("POST", "/permissions/accessible")]


@pytest.mark.invariant(2)
async def test_invariant_2_a_viewer_writing_through_the_native_api_is_403(
    http: httpx.AsyncClient, identity: Identity
) -> None:
    viewer = person(identity, "viewer", uuid.uuid4())
    r = await http.post(f"/documents/{uuid.uuid4()}", params={"text": "x"}, headers=viewer.headers)
    assert r.status_code == 403
    assert "Nothing was written" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/documents/query", {"q": "x", "where": "workspace_id"}, "filters may not name"),
        ("/documents/query", {"q": "x", "where": "owner_id"}, "filters may not name"),
        ("/documents/query-8d", {}, "dimension"),
        ("/documents/bad-filter", {}, "$regex"),
    ],
)
async def test_bad_input_is_422_with_the_reason(
    http: httpx.AsyncClient,
    identity: Identity,
    path: str,
    params: dict[str, str],
    fragment: str,
) -> None:
    owner = person(identity, "editor", uuid.uuid4())
    doc = uuid.uuid4()
    register(identity, "document", doc, owner.user)  # writes need a registered resource
    r = await http.post(f"/documents/{doc}", params={"text": "seed"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await http.get(path, params=params, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["detail"]


async def test_missing_token_is_401_before_any_store_is_built(http: httpx.AsyncClient) -> None:
    r = await http.get("/documents/query", params={"q": "x"})
    assert r.status_code == 401


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (PermissionServiceError("down"), 503),
        (AccessDeniedError("no"), 403),
        (ResourceConflictError("taken"), 403),
        (ReservedKeyError("workspace_id"), 422),
        (FilterError("bad"), 422),
        (DimensionMismatchError("3 != 4"), 422),
        (WriteConflictError("changed"), 409),
        (MissingAuthError("none"), 500),
        (SentinelError("forbidden", 403), 403),
        (SentinelError("missing", 404), 404),
        (SentinelError("conflict", 409), 409),
        (SentinelError("bad key", 401), 503),
        (SentinelError("boom", 500), 503),
        (SentinelError("unknown"), 503),
        (httpx.ConnectError("refused"), 503),
        (ValueError("bug"), 500),
    ],
)
def test_status_for(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status


class _NotABackend:
    resource_type = "document"


def test_vector_stores_refuses_misconfiguration(tmp_path: Path) -> None:
    collection = chromadb.PersistentClient(path=str(tmp_path)).get_or_create_collection(
        "coll", embedding_function=None
    )
    stores = VectorStores()
    backend: StoreBackend[ScopedCollection] = ChromaBackend(collection, resource_type="document")
    stores.add("documents", backend)
    assert list(stores) == ["documents"]
    assert "documents" in stores
    with pytest.raises(ValueError, match="already configured"):
        stores.add("documents", backend)
    with pytest.raises(ValueError, match="non-empty"):
        stores.add("", backend)
    with pytest.raises(TypeError, match="not a StoreBackend"):
        stores.add("other", _NotABackend())  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="configured: documents"):
        stores.backend("notes")
    auth: Any = object()
    with pytest.raises(RuntimeError, match="permissions"):
        stores.lifecycle("documents", auth)


async def test_an_app_without_installed_stores_answers_500(identity: Identity) -> None:
    sentinel = Sentinel(
        base_url=identity.url, service_name=SERVICE, service_key=SERVICE_KEY, mode="proxy"
    )
    app = FastAPI()
    sentinel.protect(app)

    @app.get("/x")
    async def x(docs: Annotated[Any, Depends(scoped_store("documents"))]) -> None:
        raise AssertionError("unreachable")

    owner = person(identity, "editor", uuid.uuid4())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/x", headers=owner.headers)
    assert r.status_code == 500


async def test_one_request_may_create_and_index_many_resources(
    http: httpx.AsyncClient, identity: Identity
) -> None:
    # Issue #10 finding 7: RequestAuth caches accessible() for the request; the lifecycle
    # tells every scope of the request that the caller owns what it just registered.
    owner = person(identity, "editor", uuid.uuid4())
    r = await http.post("/notes-bulk", json=["one", "two", "three"], headers=owner.headers)
    assert r.status_code == 200, r.text
    created = r.json()["created"]
    assert len(created) == 3
    assert all(identity.emulator.get("note", uuid.UUID(n), service_name=SERVICE) for n in created)
    assert r.json()["visible"] == sorted([f"{n}:0" for n in created] + [f"{created[0]}:extra"])
