"""Every Python block of README.md and docs/*.md runs, in order, against real services.

Each Markdown file is one test: its blocks run top to bottom in one namespace (a reader
pastes them one after the other), then a per-file check exercises what the blocks built
(the FastAPI apps are served through their lifespan and called with real tokens). The
namespace starts with the names a block uses but does not define, the reader's own
objects: the request's ``RequestAuth`` against the test kit's Sentinel emulator (over
HTTP, with the SDK's ``PermissionClient``), a collection on the session's real Chroma
server, an async engine on the session's real PostgreSQL + pgvector (a schema of its
own), an embedding function, a document registered with the emulator, and so on.
Qdrant runs in local mode (``AsyncQdrantClient(":memory:")``, as the doc shows).

Skipped blocks carry ``<!-- docs-test: skip REASON -->`` on the line before the fence
and must be listed in ``SKIPPED`` (so the list stays short and deliberate).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import chromadb
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sentinel_auth import PermissionClient, Sentinel
from sentinel_auth.dependencies import get_workspace_id, require_role
from sentinel_auth.middleware import JWTAuthMiddleware
from sentinel_auth.types import AuthenticatedUser
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine

from sentinel_vectors import request_auth
from sentinel_vectors.embedders import HashingEmbedder
from sentinel_vectors.testing import SigningKeys, make_user
from sentinel_vectors.testing.server import RunningEmulator, run_emulator
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors.testing.servers.postgres import PostgresServer
from tests.docs.runner import Block, blocks_of, run_block

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    if "```python" in p.read_text()
)

SKIPPED: set[tuple[str, str]] = {
    (
        "docs/scaling.md",
        "waits settle + grace (30 s by default); "
        "tests/chroma/test_promotion.py runs it with short waits",
    ),
    (
        "docs/scaling.md",
        "needs a Qdrant server with custom sharding; "
        "tests/qdrant/test_placement.py runs these calls against recorded requests",
    ),
}
"""``(file, reason)`` of every block marked ``docs-test: skip`` (not the line: edits above a
block move it)."""

# Services the docs name in PermissionClient(...) / Sentinel(...), each with its own key.
SERVICES = {"docs-service": "docs-service-key", "docs": "docs-key", "my-service": "my-key"}

TEXTS = [
    "Refunds are paid within 14 days of the request.",
    "Security incidents are reported to the on-call engineer.",
    "Salary bands are reviewed every spring.",
]


@pytest.fixture(scope="module")
def sentinel() -> Iterator[RunningEmulator]:
    """The test kit's emulator over HTTP, accepting the services the docs name."""
    keys = SigningKeys.generate()
    with run_emulator(keys, service_name="docs-service", service_key="docs-service-key") as em:
        for name, key in SERVICES.items():
            if name != "docs-service":
                em.emulator.add_service(name, key)
        yield em


@dataclass
class World:
    """One file's reader: an editor of a fresh workspace, and the objects blocks expect."""

    sentinel: RunningEmulator
    loop: asyncio.AbstractEventLoop
    service: str
    dim: int = 8
    ns: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace = uuid.uuid4()
        self.editor, self.token = self.member("editor")
        self.permissions = self.client()
        self.auth = request_auth(self.editor, self.token, self.permissions)

    @property
    def keys(self) -> SigningKeys:
        """The key pair the emulator trusts."""
        return self.sentinel.keys

    def member(self, role: str) -> tuple[AuthenticatedUser, str]:
        """A new user of the workspace with ``role``, and their token."""
        return make_user(self.keys, workspace_id=self.workspace, role=role)

    def client(self) -> PermissionClient:
        """A real PermissionClient for the file's service, closed after the test."""
        client = PermissionClient(self.sentinel.url, self.service, SERVICES[self.service])
        self.closers.append(client.close)
        return client

    def register(self, visibility: str = "workspace") -> SimpleNamespace:
        """A document owned by the editor, registered with the emulator."""
        doc = SimpleNamespace(id=uuid.uuid4(), title="Refund policy")
        self.sentinel.emulator.register(
            "document",
            doc.id,
            self.workspace,
            self.editor.user_id,
            visibility,
            service_name=self.service,
        )
        return doc

    def embed(self, text: str) -> list[float]:
        """The reader's embedding function (deterministic, offline)."""
        return HashingEmbedder(self.dim).embed_query(text)

    def headers(self, role: str = "editor") -> dict[str, str]:
        """Bearer headers of a new member with ``role``."""
        return {"Authorization": f"Bearer {self.member(role)[1]}"}

    def base(self) -> dict[str, Any]:
        """Names every file may use: the reader's auth, model, app and document."""
        document = self.register()
        return {
            "__name__": "docs_example",
            "app": FastAPI(),
            "sentinel": Sentinel(
                base_url=self.sentinel.url,
                service_name=self.service,
                service_key=SERVICES[self.service],
                mode="proxy",
            ),
            "auth": self.auth,
            "request_auth": self.auth,
            "user": self.editor,
            "token": self.token,
            "url": self.sentinel.url,
            "service_key": SERVICES[self.service],
            "URL": self.sentinel.url,
            "KEY": SERVICES[self.service],
            "PUBLIC_KEY": self.keys.public_pem,
            "embed": self.embed,
            "document": document,
            "doc": document,
            "chunks": list(TEXTS),
            "text": TEXTS[0],
            "vec": self.embed(TEXTS[0]),
            "q": self.embed("refund"),
            "vector": self.embed("refund"),
            "query_embedding": self.embed("refund"),
        }


@pytest.fixture
def world_for(
    sentinel: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., World]]:
    """Build the file's World on a loop of its own; close everything afterwards."""
    monkeypatch.chdir(tmp_path)  # blocks write ./chroma, data/chroma, ...
    loop = asyncio.new_event_loop()
    made: list[World] = []

    def make(service: str = "docs-service", dim: int = 8) -> World:
        world = World(sentinel, loop, service, dim)
        made.append(world)
        return world

    yield make
    for world in made:
        for close in reversed(world.closers):
            result = close()
            if asyncio.iscoroutine(result):
                loop.run_until_complete(result)
    loop.close()


# -- per-file set-up and checks ---------------------------------------------------------


def _chroma_collection(server: ChromaServer, **options: Any) -> Any:
    client = chromadb.HttpClient(host=server.host, port=server.port)
    return client.get_or_create_collection(
        f"docs_{uuid.uuid4().hex}", embedding_function=None, **options
    )


@dataclass
class Setup:
    """What a file needs before its blocks, and what to check after them."""

    world: World
    before: dict[int, Callable[[dict[str, Any]], None]] = field(default_factory=dict)
    after: Callable[[dict[str, Any]], None] = lambda ns: None


def setup_readme(world: World, request: pytest.FixtureRequest) -> Setup:
    server: ChromaServer = request.getfixturevalue("chroma_http")
    collection = _chroma_collection(server)
    world.ns.update(world.base(), collection=collection)

    def after(ns: dict[str, Any]) -> None:
        got = world.loop.run_until_complete(ns["docs"].get())
        assert got["ids"] == [f"{ns['document'].id}:0"]
        assert ns["hits"]["ids"] == [[]]  # no chunk has topic "billing"

    return Setup(world, after=after)


def setup_quickstart(world: World, request: pytest.FixtureRequest) -> Setup:
    server: ChromaServer = request.getfixturevalue("chroma_http")

    async def guide_store() -> Any:
        client = await chromadb.AsyncHttpClient(host=server.host, port=server.port)
        return await client.get_or_create_collection(
            f"docs_{uuid.uuid4().hex}", embedding_function=None
        )

    world.ns.update(world.base(), vector_store=world.loop.run_until_complete(guide_store()))

    route_docs: dict[str, Any] = {}

    def keep(ns: dict[str, Any]) -> None:  # "Outside FastAPI" rebinds auth and docs
        route_docs.update(docs=ns["docs"], auth=ns["auth"])

    def restore(ns: dict[str, Any]) -> None:  # the filter example is a route's again
        ns.update(route_docs)

    def after(ns: dict[str, Any]) -> None:
        got = world.loop.run_until_complete(ns["docs"].get(include=["metadatas"]))
        assert len(got["ids"]) == len(TEXTS)  # step 4 wrote one record per chunk
        assert ns["found"]  # the "Sync code" block's query found chunks step 4 wrote
        assert set(ns["found"]) <= set(got["ids"])

    path = "docs/quickstart.md"
    return Setup(
        world,
        before={
            _block_index(path, "PermissionClient("): keep,
            _block_index(path, "F.and_"): restore,
        },
        after=after,
    )


def setup_qdrant(world: World, request: pytest.FixtureRequest) -> Setup:
    world.dim = 768  # the collection the doc creates
    world.ns.update(world.base())

    def after(ns: dict[str, Any]) -> None:
        # Three documents by two editors: every chunk is a point of its own.
        from qdrant_client import models

        from sentinel_vectors.index import chunk_id
        from sentinel_vectors_qdrant import ScopedQdrantClient

        other, token = world.member("editor")
        for _ in range(2):  # one request per document: RequestAuth caches accessible()
            second = request_auth(other, token, world.permissions)
            scoped = ScopedQdrantClient(ns["client"], second, resource_type="document")
            doc = uuid.uuid4()
            world.loop.run_until_complete(
                second.register_resource("document", doc, visibility="workspace")
            )
            world.loop.run_until_complete(
                scoped.upsert(
                    "docs",
                    [
                        models.PointStruct(
                            id=chunk_id(str(doc), n),
                            vector=world.embed(c),
                            payload={"resource_id": str(doc), "text": c},
                        )
                        for n, c in enumerate(TEXTS)
                    ],
                )
            )
        count = world.loop.run_until_complete(scoped.count("docs"))
        assert count.count == 3 * len(TEXTS)

    return Setup(world, after=after)


class _GuideChunk(BaseModel):
    id: uuid.UUID
    text: str
    embedding: list[float]


class CreateDocumentRequest(BaseModel):
    """The guide's request body."""

    content: str


def setup_migration(world: World, request: pytest.FixtureRequest) -> Setup:
    world.service = "my-service"
    world.permissions = world.client()
    server: ChromaServer = request.getfixturevalue("chroma_http")
    embedder = HashingEmbedder(world.dim)

    def split(content: str) -> list[_GuideChunk]:
        parts = [p.strip() for p in content.split(".") if p.strip()]
        return [
            _GuideChunk(id=uuid.uuid4(), text=p, embedding=embedder.embed_query(p)) for p in parts
        ]

    os.environ["IDENTITY_SERVICE_URL"] = world.sentinel.url
    os.environ["IDENTITY_SERVICE_KEY"] = SERVICES["my-service"]
    world.closers.append(lambda: os.environ.pop("IDENTITY_SERVICE_URL", None))
    world.closers.append(lambda: os.environ.pop("IDENTITY_SERVICE_KEY", None))
    routers: list[APIRouter] = []

    def fresh_router(ns: dict[str, Any]) -> None:
        ns["router"] = APIRouter()
        routers.append(ns["router"])

    # The guide's module: its imports and globals (the blocks show only what changes).
    world.ns.update(
        world.base(),
        os=os,
        uuid=uuid,
        asynccontextmanager=asynccontextmanager,
        Annotated=Annotated,
        Depends=Depends,
        FastAPI=FastAPI,
        Request=Request,
        PermissionClient=PermissionClient,
        AuthenticatedUser=AuthenticatedUser,
        require_role=require_role,
        get_workspace_id=get_workspace_id,
        CreateDocumentRequest=CreateDocumentRequest,
        split=split,
        embedder=embedder,
        embed=embedder.embed_query,
        vector_store=_chroma_collection(server),
    )
    # The recommended variant's aliases are declared in "Once per app", further down.
    from sentinel_vectors.fastapi import resource_lifecycle, scoped_index, scoped_store
    from sentinel_vectors.index import Chunk, ChunkIndex
    from sentinel_vectors.lifecycle import ResourceLifecycle
    from sentinel_vectors_chroma import ScopedCollection

    world.ns.update(
        ScopedCollection=ScopedCollection,
        scoped_store=scoped_store,
        Chunk=Chunk,
        Documents=Annotated[ResourceLifecycle, Depends(resource_lifecycle("documents"))],
        Index=Annotated[ChunkIndex, Depends(scoped_index("documents"))],
    )

    def after(ns: dict[str, Any]) -> None:
        # Each variant (blocks 2 and 3; block 1 is the guide's) behind the doc's lifespan.
        for router in routers[1:]:
            app = FastAPI(lifespan=ns["lifespan"])
            ns["add_exception_handlers"](app)
            app.add_middleware(JWTAuthMiddleware, public_key=world.keys.public_pem)
            app.include_router(router)
            with TestClient(app) as http:
                r = http.post(
                    "/documents",
                    json={"content": "Refunds take 14 days. Salaries are private."},
                    headers=world.headers("editor"),
                )
                assert r.status_code == 200, r.text
                r = http.get(
                    "/documents/search", params={"q": "refunds"}, headers=world.headers("viewer")
                )
                assert r.status_code == 200, r.text
                assert "Refunds take 14 days" in r.text

    return Setup(world, before={0: fresh_router, 1: fresh_router, 2: fresh_router}, after=after)


class NewDocument(BaseModel):
    """The example's request body."""

    title: str
    content: str


def setup_fastapi(world: World, request: pytest.FixtureRequest) -> Setup:
    world.service = "docs"
    world.permissions = world.client()

    def embed_chunks(body: NewDocument) -> list[tuple[str, list[float]]]:
        parts = [p.strip() for p in body.content.split(".") if p.strip()]
        return [(p, world.embed(p)) for p in parts]

    world.ns.update(world.base(), NewDocument=NewDocument, embed_chunks=embed_chunks)

    def after(ns: dict[str, Any]) -> None:
        app = ns["app"]
        with TestClient(app) as http:
            body = {"title": "Policy", "content": "Refunds take 14 days. HR is on floor 2."}
            creator = world.headers("editor")
            r = http.post("/documents", json=body, headers=creator)
            assert r.status_code == 201, r.text
            doc_id = r.json()["id"]
            r = http.get("/search", params={"q": "hr"}, headers=world.headers("viewer"))
            assert r.status_code == 200, r.text
            # A private document the viewer may not see answers like an unknown id
            # (invariant 9).
            r = http.delete(f"/documents/{doc_id}", headers=world.headers("viewer"))
            assert r.status_code == 404, r.text
            unknown = str(uuid.uuid4())
            r2 = http.delete(f"/documents/{unknown}", headers=world.headers("viewer"))
            assert r2.status_code == 404, r2.text
            assert r.json()["detail"].replace(doc_id, "?") == r2.json()["detail"].replace(
                unknown, "?"
            )
            r = http.delete(f"/documents/{doc_id}", headers=creator)
            assert r.status_code == 204, r.text
            r = http.delete(f"/documents/{doc_id}", headers=creator)
            assert r.status_code == 404, r.text

    return Setup(world, after=after)


def setup_scaling(world: World, request: pytest.FixtureRequest) -> Setup:
    """The partitioned table in a fresh schema; one workspace's chunks to promote."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    schema = f"docs_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server.sqlalchemy_url("asyncpg"))
    world.loop.run_until_complete(_run_sql(admin, f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(
        server.sqlalchemy_url("asyncpg"),
        connect_args={"server_settings": {"search_path": f"{schema},public"}},
    )

    async def drop() -> None:
        await _run_sql(admin, f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()

    world.closers.append(drop)
    world.closers.append(engine.dispose)
    chroma: ChromaServer = request.getfixturevalue("chroma_http")
    client = chromadb.HttpClient(host=chroma.host, port=chroma.port)
    world.closers.append(
        lambda: client.delete_collection(f"docs__ws_{world.workspace.hex}")  # the Chroma block's
    )
    for name in ("docs", "docs__placement"):  # the tiered block's shared base and registry
        world.closers.append(lambda name=name: client.delete_collection(name))
    world.ns.update(
        world.base(),
        engine=engine,
        workspace_id=str(world.workspace),
        client=client,
        request_auth=world.auth,
    )

    def one_chunk(ns: dict[str, Any]) -> None:
        row = {
            "workspace_id": world.workspace,
            "id": "c1",
            "owner_id": world.workspace,
            "resource_id": uuid.uuid4(),
            "meta": {},
            "embedding": [0.1] * 384,
        }
        world.loop.run_until_complete(_run_sql(engine, ns["chunks"].insert().values(**row)))

    def after(ns: dict[str, Any]) -> None:
        assert ns["moved"] == 1
        assert ns["docs"].name == f"docs__ws_{world.workspace.hex}"

    return Setup(
        world,
        before={_block_index("docs/scaling.md", "promote_workspace("): one_chunk},
        after=after,
    )


async def _run_sql(engine: Any, statement: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sql(statement) if isinstance(statement, str) else statement)


def setup_pgvector(world: World, request: pytest.FixtureRequest) -> Setup:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    world.dim = 384
    schema = f"docs_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server.sqlalchemy_url("asyncpg"))

    async def prepare() -> None:
        async with admin.begin() as conn:
            await conn.execute(sql("CREATE EXTENSION IF NOT EXISTS vector"))
            await conn.execute(sql(f'CREATE SCHEMA "{schema}"'))
            await conn.execute(
                sql(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'docs_app')"
                    " THEN CREATE ROLE docs_app NOLOGIN; END IF; END $$"
                )
            )

    async def drop() -> None:
        async with admin.begin() as conn:
            await conn.execute(sql(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()

    world.loop.run_until_complete(prepare())
    engine = create_async_engine(
        server.sqlalchemy_url("asyncpg"),
        connect_args={"server_settings": {"search_path": f"{schema},public"}},
    )
    world.closers.append(drop)
    world.closers.append(engine.dispose)
    texts = list(TEXTS)
    world.ns.update(
        world.base(),
        engine=engine,
        doc_id=uuid.uuid4(),
        texts=texts,
        embeddings=[world.embed(t) for t in texts],
    )

    def documents_table(ns: dict[str, Any]) -> None:
        # The service's own documents table, for the scoped_select join.
        from sqlalchemy import String, Uuid
        from sqlalchemy.orm import DeclarativeBase, mapped_column

        class AppBase(DeclarativeBase):
            pass

        class Document(AppBase):
            __tablename__ = "documents"
            id = mapped_column(Uuid, primary_key=True)
            status = mapped_column(String)

        async def create() -> None:
            async with engine.begin() as conn:
                await conn.run_sync(AppBase.metadata.create_all)
                await conn.execute(
                    Document.__table__.insert().values(id=ns["doc_id"], status="published")
                )

        world.loop.run_until_complete(create())
        ns["Document"] = Document

    def after(ns: dict[str, Any]) -> None:
        assert [h.id for h in ns["hits"]]
        assert ns["n"] == len(TEXTS)
        assert len(ns["chunks"]) == len(TEXTS) - 1  # read after the session closed

    return Setup(
        world,
        before={_block_index("docs/pgvector.md", "scoped_select"): documents_table},
        after=after,
    )


def _block_index(path: str, needle: str) -> int:
    """Index of the first block of ``path`` whose source contains ``needle``."""
    return next(i for i, b in enumerate(blocks_of(ROOT / path)) if needle in b.source)


def setup_rag(world: World, request: pytest.FixtureRequest) -> Setup:
    pytest.importorskip("static_model", reason="the rag extra (x86-64 Linux wheel)")
    from llama_index.core.llms import MockLLM

    from sentinel_vectors.embedders import StaticModelEmbedder
    from sentinel_vectors.index import Chunk
    from sentinel_vectors_chroma import ChromaBackend

    server: ChromaServer = request.getfixturevalue("chroma_http")
    collection = _chroma_collection(server, configuration={"hnsw": {"space": "cosine"}})
    backend = ChromaBackend(collection, resource_type="document")
    model = StaticModelEmbedder()
    # Two documents of the RAG example's corpus, one chunk per paragraph.
    data = ROOT / "examples" / "data" / "acme"
    corpus = {
        title: [p.strip() for p in (data / name).read_text().split("\n\n") if p.strip()]
        for title, name in [
            ("Refund policy", "refund-policy.md"),
            ("Salary bands", "salary-bands.md"),
        ]
    }

    async def index() -> None:
        from sentinel_vectors.lifecycle import ResourceLifecycle, SentinelRegistry

        for title, paragraphs in corpus.items():  # one request per document
            auth = request_auth(world.editor, world.token, world.permissions)
            idx = backend.index(auth)
            life = ResourceLifecycle(idx, SentinelRegistry(world.permissions, idx.scope))
            await life.index_resource(
                uuid.uuid4(),
                [
                    Chunk(p, model.embed_query(p), {"title": title, "topic": "billing"})
                    for p in paragraphs
                ],
            )

    world.loop.run_until_complete(index())

    def answer(inputs: dict[str, Any]) -> str:
        return inputs["docs"][0].page_content if inputs["docs"] else "no answer"

    world.ns.update(world.base(), backend=backend, answer=answer, llm=MockLLM())
    shown: dict[str, float] = {}

    def keep_threshold(ns: dict[str, Any]) -> None:  # what the first block configured
        shown["threshold"] = ns["retriever"].score_threshold
        assert shown["threshold"] is not None

    def after(ns: dict[str, Any]) -> None:
        from sentinel_vectors_langchain import ScopedRetriever

        assert ns["docs"][0].metadata["title"] == "Refund policy", ns["docs"]
        # The threshold the doc shows keeps the relevant chunks of a keyword query too.
        for query in ("refund", "refund policy"):
            retriever = ScopedRetriever.from_backend(
                backend,
                request_auth(world.editor, world.token, world.permissions),
                embeddings=model,
                k=4,
                filter={"topic": "billing"},
                score_threshold=shown["threshold"],
            )
            found = world.loop.run_until_complete(retriever.ainvoke(query))
            assert found, query
            assert found[0].metadata["title"] == "Refund policy", (query, found)

    lcel = _block_index("docs/rag.md", "RunnablePassthrough")
    return Setup(world, before={lcel: keep_threshold}, after=after)


def setup_testing(world: World, request: pytest.FixtureRequest) -> Setup:
    world.ns.update(
        world.base(),
        keys=world.keys,
        ws=uuid.uuid4(),
        group_id=uuid.uuid4(),
        doc_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        viewer_id=uuid.uuid4(),
    )
    return Setup(world)


def setup_observability(world: World, request: pytest.FixtureRequest) -> Setup:
    from sentinel_vectors import audit

    server: ChromaServer = request.getfixturevalue("chroma_http")
    world.ns.update(world.base(), collection=_chroma_collection(server))
    previous = audit.get_auditor()

    def restore() -> None:  # the doc configures the process's auditor: put it back
        configured = audit.use(previous)
        if configured is not previous:
            configured.close()

    request.addfinalizer(restore)

    def after(ns: dict[str, Any]) -> None:
        lines = [json.loads(x) for x in Path("audit.jsonl").read_text().splitlines()]
        reads = [x for x in lines if x["kind"] == "read"]
        assert [len(x["returned_ids"]) for x in reads] == [len(ns["hits"]["ids"][0])]

    return Setup(world, after=after)


SETUPS: dict[str, Callable[[World, pytest.FixtureRequest], Setup]] = {
    "README.md": setup_readme,
    "docs/quickstart.md": setup_quickstart,
    "docs/qdrant.md": setup_qdrant,
    "docs/migration.md": setup_migration,
    "docs/fastapi.md": setup_fastapi,
    "docs/pgvector.md": setup_pgvector,
    "docs/rag.md": setup_rag,
    "docs/testing.md": setup_testing,
    "docs/observability.md": setup_observability,
    "docs/scaling.md": setup_scaling,
}


def test_every_file_with_python_blocks_is_run() -> None:
    assert set(FILES) == set(SETUPS), "add a setup_* for the new file to SETUPS"


def test_skipped_blocks_are_the_listed_ones() -> None:
    marked = {(f, b.skip_reason) for f in FILES for b in blocks_of(ROOT / f) if b.skip_reason}
    assert marked == SKIPPED


@pytest.mark.parametrize("path", FILES)
def test_python_blocks_run(
    path: str, world_for: Callable[..., World], request: pytest.FixtureRequest
) -> None:
    setup = SETUPS[path](world_for(), request)
    world = setup.world
    ns = world.ns
    blocks: list[Block] = blocks_of(ROOT / path)
    for i, block in enumerate(blocks):
        if block.skip_reason:
            continue
        if i in setup.before:
            setup.before[i](ns)
        run_block(block, ns, world.loop)
    setup.after(ns)
