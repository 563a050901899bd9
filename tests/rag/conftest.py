"""RAG fixtures: the example corpus ingested into a real store, real auth via the emulator.

``rag_store`` is one fresh cosine collection of the offline model's dimension on each
backend: the session's real ``chroma run`` server, Qdrant's local mode, Qdrant's engine
in-process (qdrant-edge), and the session's PostgreSQL + pgvector. ``corpus_world`` loads
``examples/data`` into it through the resource lifecycle (each document indexed by its
owner, registered with the emulator over HTTP), so every test reads what the example reads.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import chromadb
import pytest
from sentinel_auth import PermissionClient, RequestAuth
from sentinel_auth.types import AuthenticatedUser

from examples.rag_pipeline import Corpus, credentials, ingest, load_corpus, sign_in
from sentinel_vectors import request_auth
from sentinel_vectors.binding import StoreBackend
from sentinel_vectors.embedders import StaticModelEmbedder
from sentinel_vectors.testing import make_user
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.chroma import ChromaServer

DIM = StaticModelEmbedder.dimension
BACKENDS = ["chroma", "qdrant", "qdrant-edge", "pgvector"]


@pytest.fixture(scope="session")
def embedder() -> StaticModelEmbedder:
    """The offline model (loaded once per session)."""
    return StaticModelEmbedder()


@dataclass
class Store:
    """A backend binding over a fresh collection, and how to read it natively."""

    name: str
    backend: StoreBackend[Any]
    native: Any


@pytest.fixture(scope="session")
def chroma_client(chroma_http: ChromaServer) -> Any:
    """An HTTP client of the session's Chroma server."""
    return chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)


async def _chroma(client: Any) -> AsyncIterator[Store]:
    from sentinel_vectors_chroma import ChromaBackend

    name = f"rag-{uuid.uuid4().hex[:12]}"
    collection = client.create_collection(
        name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    yield Store("chroma", ChromaBackend(collection, resource_type="document"), collection)
    client.delete_collection(name)


async def _qdrant() -> AsyncIterator[Store]:
    from qdrant_client import AsyncQdrantClient, models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection

    client = AsyncQdrantClient(location=":memory:")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
        await ensure_collection(
            client, "rag", models.VectorParams(size=DIM, distance=models.Distance.COSINE)
        )
    yield Store("qdrant", QdrantBackend(client, "rag", resource_type="document"), client)
    await client.close()


async def _qdrant_edge() -> AsyncIterator[Store]:
    from qdrant_client import models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection
    from tests.qdrant.conftest import edge_client

    client = edge_client()  # Qdrant's own engine in-process: a sync client, calls in a thread
    await ensure_collection(
        client, "rag", models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    yield Store("qdrant-edge", QdrantBackend(client, "rag", resource_type="document"), client)
    client.close()


async def _pgvector(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors.testing.servers.postgres import PostgresServer
    from sentinel_vectors_pgvector import PgvectorBackend, chunk_table

    server: PostgresServer = request.getfixturevalue("postgres_server")
    engine = create_async_engine(server.sqlalchemy_url("asyncpg"))
    table = chunk_table(f"rag_{uuid.uuid4().hex[:10]}", MetaData(), dim=DIM)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.run_sync(table.metadata.create_all)
    yield Store("pgvector", PgvectorBackend(engine, table, resource_type="document"), table)
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.drop_all)
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def rag_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh cosine collection of dimension 64 on each backend in turn."""
    if request.param == "chroma":
        gen = _chroma(request.getfixturevalue("chroma_client"))
    elif request.param == "qdrant":
        gen = _qdrant()
    elif request.param == "qdrant-edge":
        gen = _qdrant_edge()
    else:
        gen = _pgvector(request)
    store = await anext(gen)
    yield store
    await anext(gen, None)


@pytest.fixture
async def chroma_store(chroma_client: Any) -> AsyncIterator[Store]:
    """A fresh cosine collection on the Chroma server only."""
    gen = _chroma(chroma_client)
    yield await anext(gen)
    await anext(gen, None)


@dataclass
class World:
    """The example corpus, ingested into ``store``, with the emulator that knows it."""

    corpus: Corpus
    store: Store
    running: RunningEmulator
    permissions: PermissionClient

    def auth(self, name: str) -> RequestAuth:
        """A fresh ``RequestAuth`` of member ``name`` (one request)."""
        return sign_in(self.corpus, name, self.running, self.permissions)

    def credentials(self, name: str) -> tuple[AuthenticatedUser, str]:
        """Member ``name``'s user and token."""
        return credentials(self.corpus, name, self.running)

    def may_view(self, name: str) -> set[str]:
        """Resource ids member ``name`` may view, from the corpus (the test's oracle)."""
        member = self.corpus.members[name]
        return {
            d.resource_id
            for d in self.corpus.documents
            if d.workspace == member.workspace
            and (
                member.role in ("admin", "owner")
                or d.visibility == "workspace"
                or d.owner == name
                or name in d.shared_with
            )
        }


async def _world(
    store: Store, embedder: StaticModelEmbedder, running: RunningEmulator
) -> AsyncIterator[World]:
    permissions = running.permission_client()
    corpus = load_corpus()
    await ingest(corpus, store.backend, embedder, running, permissions)
    yield World(corpus, store, running, permissions)
    await permissions.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped


@pytest.fixture
async def corpus_world(
    rag_store: Store, embedder: StaticModelEmbedder, sentinel_emulator_clean: RunningEmulator
) -> AsyncIterator[World]:
    """The example corpus on each backend in turn."""
    async for world in _world(rag_store, embedder, sentinel_emulator_clean):
        yield world


@pytest.fixture
async def chroma_world(
    chroma_store: Store, embedder: StaticModelEmbedder, sentinel_emulator_clean: RunningEmulator
) -> AsyncIterator[World]:
    """The example corpus on the Chroma server."""
    async for world in _world(chroma_store, embedder, sentinel_emulator_clean):
        yield world


# -- the framework-native stores' tests: one collection per backend per module -----------

STANDARD_DIM = 6  # langchain_tests' EMBEDDING_SIZE, the fake embedder's dimension


class Clients:
    """One permission client per event loop: the portal's (sync tests) and the session's."""

    def __init__(self, running: RunningEmulator, portal: anyio.from_thread.BlockingPortal):
        self.running = running
        self.portal = portal
        self.sync: PermissionClient = running.permission_client()
        self.async_: PermissionClient = running.permission_client()


@pytest.fixture(scope="module")
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    """The loop the sync tests' permission client lives on."""
    with anyio.from_thread.start_blocking_portal() as portal:
        yield portal


@pytest.fixture(scope="module")
async def clients(
    sentinel_emulator: RunningEmulator, portal: anyio.from_thread.BlockingPortal
) -> AsyncIterator[Clients]:
    """Permission clients for the portal's loop and the session loop."""
    made = Clients(sentinel_emulator, portal)
    yield made
    await made.async_.close()  # type: ignore[no-untyped-call]
    portal.call(made.sync.close)


@pytest.fixture(scope="module")
def chroma_backend(chroma_client: Any) -> Iterator[Any]:
    """One cosine collection on the session's Chroma server for the module."""
    from sentinel_vectors_chroma import ChromaBackend

    name = f"lc-std-{uuid.uuid4().hex[:10]}"
    collection = chroma_client.create_collection(
        name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    yield ChromaBackend(collection, resource_type="document")
    chroma_client.delete_collection(name)


@pytest.fixture(scope="module")
async def qdrant_backend() -> AsyncIterator[Any]:
    """One cosine collection in Qdrant's local mode for the module."""
    from qdrant_client import AsyncQdrantClient, models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection

    client = AsyncQdrantClient(location=":memory:")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
        await ensure_collection(
            client, "lc", models.VectorParams(size=STANDARD_DIM, distance=models.Distance.COSINE)
        )
    yield QdrantBackend(client, "lc", resource_type="document")
    await client.close()


@pytest.fixture(scope="module")
async def qdrant_edge_backend() -> AsyncIterator[Any]:
    """One cosine collection on Qdrant's own engine in-process (qdrant-edge) for the module."""
    from qdrant_client import models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection
    from tests.qdrant.conftest import edge_client

    client = edge_client()
    await ensure_collection(
        client, "lc", models.VectorParams(size=STANDARD_DIM, distance=models.Distance.COSINE)
    )
    yield QdrantBackend(client, "lc", resource_type="document")
    client.close()


@pytest.fixture(scope="module")
async def pg_table(postgres_server: Any) -> AsyncIterator[tuple[Any, Any]]:
    """One chunk table on the session's PostgreSQL for the module, and its engine."""
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors_pgvector import chunk_table

    engine = create_async_engine(postgres_server.sqlalchemy_url("asyncpg"))
    table = chunk_table(f"lc_std_{uuid.uuid4().hex[:10]}", MetaData(), dim=STANDARD_DIM)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.run_sync(table.metadata.create_all)
    yield engine, table
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.drop_all)
    await engine.dispose()


@pytest.fixture(scope="module")
def pg_backends(
    pg_table: tuple[Any, Any], postgres_server: Any, portal: anyio.from_thread.BlockingPortal
) -> Iterator[tuple[Any, Any]]:
    """The session loop's backend, and one whose engine lives on the portal's loop."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors_pgvector import PgvectorBackend

    engine, model = pg_table
    on_portal = create_async_engine(postgres_server.sqlalchemy_url("asyncpg"))
    yield (
        PgvectorBackend(engine, model, resource_type="document"),
        PgvectorBackend(on_portal, model, resource_type="document"),
    )
    portal.call(on_portal.dispose)


@pytest.fixture(params=BACKENDS)
def record_backend(request: pytest.FixtureRequest) -> Any:
    """The module's collection on each backend in turn (the session loop's binding)."""
    if request.param == "chroma":
        return request.getfixturevalue("chroma_backend")
    if request.param == "qdrant":
        return request.getfixturevalue("qdrant_backend")
    return request.getfixturevalue("pg_backends")[0]


@dataclass
class Team:
    """One workspace: alice and bob (editors), carol (viewer); an outsider elsewhere.

    ``private`` is alice's private document, ``shared`` a workspace-visible one of hers
    (bob may view and edit it, carol only view it), ``bobs`` bob's private document,
    ``bobs_open`` a workspace-visible one of bob's, ``carols`` carol's private one.
    """

    backend: Any
    clients: Clients
    workspace: uuid.UUID
    users: dict[str, tuple[Any, str]]
    private: uuid.UUID
    shared: uuid.UUID
    bobs: uuid.UUID
    bobs_open: uuid.UUID
    carols: uuid.UUID

    def auth(self, name: str) -> RequestAuth:
        """A fresh ``RequestAuth`` of ``name`` on the session loop's permission client."""
        user, token = self.users[name]
        return request_auth(user, token, self.clients.async_)


@pytest.fixture
def team(record_backend: Any, clients: Clients) -> Team:
    """A fresh workspace on the backend's shared collection."""
    running = clients.running
    ws = uuid.uuid4()
    users = {
        "alice": make_user(running.keys, workspace_id=ws, role="editor"),
        "bob": make_user(running.keys, workspace_id=ws, role="editor"),
        "carol": make_user(running.keys, workspace_id=ws, role="viewer"),
        "outsider": make_user(running.keys, workspace_id=uuid.uuid4(), role="admin"),
    }
    private, shared, bobs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    alice, bob = users["alice"][0].user_id, users["bob"][0].user_id
    running.emulator.register("document", private, ws, alice, "private")
    running.emulator.register("document", shared, ws, alice, "workspace")
    running.emulator.register("document", bobs, ws, bob, "private")
    bobs_open, carols = uuid.uuid4(), uuid.uuid4()
    running.emulator.register("document", bobs_open, ws, bob, "workspace")
    running.emulator.register("document", carols, ws, users["carol"][0].user_id, "private")
    return Team(record_backend, clients, ws, users, private, shared, bobs, bobs_open, carols)
