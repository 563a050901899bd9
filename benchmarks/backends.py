"""One runner per backend: load the data, then answer the same query three ways.

- ``native``: the query written by hand on the native client with the same filter the
  scoped wrapper sends (``workspace_id = ws AND resource_id IN ids``; the workspace alone
  for full access), as the integration guide tells a service to write it.
- ``scoped``: the suite's wrapper with an in-process auth context, forced to a strategy
  (``None`` lets ``auto`` choose).
- ``wardowl``: wardowl 2.1's ``PermissionedRetriever`` over its own backend class for
  the same store, on its own copy of the data (wardowl has its own storage layout), with
  a ``FunctionAuthorizer`` whose filter is the same workspace-and-ids condition.

Every method returns logical chunk ids (``c<i>``), nearest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.workload import Dataset, FixedAuth
from sentinel_vectors.strategy import StrategyName

RESOURCE_TYPE = "document"
BATCH = 2_000
CHROMA_MAX_IDS = 20_000  # what a hand-written Chroma query must chunk under (SQLite)


@dataclass
class Loaded:
    """What loading cost, per part, in seconds."""

    seconds: dict[str, float] = field(default_factory=dict)


def _wardowl_authorizer(ws: str, ids: list[str] | None) -> Any:
    from wardowl import And, FunctionAuthorizer, In, matches

    f = (
        In("workspace_id", [ws])
        if ids is None
        else And(In("workspace_id", [ws]), In("resource_id", ids))
    )

    def check(subject: Any, hits: Any, action: str) -> list[bool]:
        return [matches(f, h.metadata) for h in hits]

    return FunctionAuthorizer(check, lambda subject, action: f)


class Runner:
    """The interface every backend runner implements."""

    name = "?"
    note = ""
    wardowl_ready = False

    async def load(self, data: Dataset) -> Loaded:
        raise NotImplementedError

    async def native(
        self, q: np.ndarray, ws: str, ids: list[uuid.UUID] | None, k: int
    ) -> list[str]:
        """The query by hand, from ``accessible()``'s answer as the SDK returns it (UUIDs)."""
        raise NotImplementedError

    def scoped_store(self, auth: FixedAuth, strategy: StrategyName | None) -> Any:
        raise NotImplementedError

    async def scoped(self, store: Any, q: np.ndarray, k: int) -> tuple[list[str], bool]:
        raise NotImplementedError

    def wardowl(self, q: np.ndarray, ws: str, ids: list[str] | None, k: int) -> list[str]:
        from wardowl import PermissionedRetriever, Query, Subject

        retriever = PermissionedRetriever(self.wardowl_backend(), _wardowl_authorizer(ws, ids))
        result = retriever.retrieve(Query(vector=q.tolist()), Subject("bench"), k=k)
        return [h.id for h in result.hits]

    def wardowl_backend(self) -> Any:
        raise NotImplementedError

    async def write_pair(self, data: Dataset, batch: int, tag: str) -> tuple[float, float]:
        """(scoped add, raw native add) seconds for ``batch`` new chunks each."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


def _docs(data: Dataset, idx: np.ndarray) -> list[Any]:
    from wardowl import Document

    return [
        Document(
            data.chunk_id(int(i)),
            "",
            {
                "workspace_id": data.workspaces[int(data.workspace_of[i])],
                "resource_id": data.resource_of[int(i)],
            },
        )
        for i in idx
    ]


def _wardowl_add(backend: Any, data: Dataset, out: Loaded) -> None:
    """Load every chunk into wardowl's own ``backend`` in batches; times it in ``out``."""
    t = time.perf_counter()
    every = np.arange(data.n)
    for start in range(0, data.n, BATCH):
        idx = every[start : start + BATCH]
        backend.add(_docs(data, idx), data.vectors[idx].tolist())
    out.seconds["wardowl add"] = time.perf_counter() - t


def _admin(data: Dataset, w: int) -> FixedAuth:
    return FixedAuth(
        uuid.UUID(data.workspaces[w]),
        uuid.UUID(data.owners[w]),
        [],
        full=True,
        workspace_role="admin",
    )


def _fresh_batch(data: Dataset, batch: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(batch, data.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    resources = [str(uuid.uuid4()) for _ in range(max(1, batch // 10))]
    return [f"w{seed}-{i}" for i in range(batch)], vecs, [resources[i // 10] for i in range(batch)]


# -- Chroma ------------------------------------------------------------------------------


class ChromaRunner(Runner):
    name = "chroma"
    note = "chroma run server (HTTP, AsyncHttpClient), HNSW cosine, M=16, ef_search=100"

    def __init__(self, stack: AsyncExitStack, *, wardowl: bool) -> None:
        self.stack = stack
        self.wardowl_ready = False
        self.with_wardowl = wardowl

    async def load(self, data: Dataset) -> Loaded:
        import chromadb

        from sentinel_vectors.testing.servers.chroma import chroma_server
        from sentinel_vectors_chroma import ScopedCollection

        server = self.stack.enter_context(chroma_server())
        self.client = await chromadb.AsyncHttpClient(host=server.host, port=server.port)
        self.col = await self.client.create_collection(
            "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        out = Loaded()
        t = time.perf_counter()
        for w in range(len(data.workspaces)):
            writer = ScopedCollection(self.col, _admin(data, w), resource_type=RESOURCE_TYPE)
            members = data.in_workspace(w)
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                await writer.add(
                    ids=[data.chunk_id(int(i)) for i in idx],
                    embeddings=data.vectors[idx],
                    metadatas=[{"resource_id": data.resource_of[int(i)]} for i in idx],
                )
        out.seconds["scoped bulk add"] = time.perf_counter() - t
        if self.with_wardowl:
            from wardowl.backends.chroma import ChromaBackend

            sync = chromadb.HttpClient(host=server.host, port=server.port)
            wcol = sync.create_collection(
                "bench-wardowl",
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
            self.wbackend = ChromaBackend(wcol)
            _wardowl_add(self.wbackend, data, out)
            self.wardowl_ready = True
        return out

    def wardowl_backend(self) -> Any:
        return self.wbackend

    async def native(
        self, q: np.ndarray, ws: str, answer: list[uuid.UUID] | None, k: int
    ) -> list[str]:
        wheres: list[dict[str, Any]]
        ids = None if answer is None else [str(u) for u in answer]
        if ids is None:
            wheres = [{"workspace_id": ws}]
        else:
            wheres = [
                {
                    "$and": [
                        {"workspace_id": ws},
                        {"resource_id": {"$in": ids[s : s + CHROMA_MAX_IDS]}},
                    ]
                }
                for s in range(0, len(ids), CHROMA_MAX_IDS)
            ]
        rows: list[tuple[float, str]] = []
        for where in wheres:
            raw = await self.col.query(
                query_embeddings=[q.tolist()],
                n_results=k,
                where=where,
                include=["distances", "metadatas"],
            )
            rows += list(zip(raw["distances"][0], raw["ids"][0], strict=True))
        rows.sort()
        return [pid.split(":", 1)[1] for _, pid in rows[:k]]

    def scoped_store(self, auth: FixedAuth, strategy: StrategyName | None) -> Any:
        from sentinel_vectors_chroma import ScopedCollection

        return ScopedCollection(
            self.col, auth, resource_type=RESOURCE_TYPE, strategy=strategy or "auto"
        )

    async def scoped(self, store: Any, q: np.ndarray, k: int) -> tuple[list[str], bool]:
        res = await store.query(query_embeddings=[q.tolist()], n_results=k, include=["distances"])
        return list(res["ids"][0]), bool(res.complete)

    async def write_pair(self, data: Dataset, batch: int, tag: str) -> tuple[float, float]:
        from sentinel_vectors_chroma import ScopedCollection

        ws, owner = data.workspaces[1], data.owners[1]
        writer = ScopedCollection(self.col, _admin(data, 1), resource_type=RESOURCE_TYPE)
        ids, vecs, res = _fresh_batch(data, batch, hash(tag) % 10_000)
        t = time.perf_counter()
        await writer.add(ids=ids, embeddings=vecs, metadatas=[{"resource_id": r} for r in res])
        scoped = time.perf_counter() - t
        raw_ids = [f"{ws}:raw-{i}" for i in ids]
        metas = [{"resource_id": r, "workspace_id": ws, "owner_id": owner} for r in res]
        t = time.perf_counter()
        await self.col.add(ids=raw_ids, embeddings=vecs.tolist(), metadatas=metas)
        raw = time.perf_counter() - t
        return scoped, raw


# -- pgvector ----------------------------------------------------------------------------


class PgvectorRunner(Runner):
    name = "pgvector"
    note = (
        "PostgreSQL 18.6 + pgvector 0.8.x (embedded, asyncpg), HNSW cosine m=16 "
        "ef_construction=64, iterative_scan=relaxed_order, ef_search=40 (pgvector default)"
    )

    def __init__(self, stack: AsyncExitStack, *, wardowl: bool) -> None:
        self.stack = stack
        self.with_wardowl = wardowl

    async def load(self, data: Dataset) -> Loaded:
        from sqlalchemy import MetaData, text
        from sqlalchemy.ext.asyncio import create_async_engine

        from sentinel_vectors.testing.servers.postgres import embedded_postgres
        from sentinel_vectors_pgvector import ScopedVectorStore, chunk_table, hnsw_index

        self.pg = self.stack.enter_context(embedded_postgres())
        self.engine = create_async_engine(self.pg.sqlalchemy_url("asyncpg"), pool_size=4)
        self.stack.push_async_callback(self.engine.dispose)
        self.table = chunk_table("bench_chunks", MetaData(), dim=data.dim)
        async with self.engine.begin() as conn:
            await conn.run_sync(self.table.metadata.create_all)
        out = Loaded()
        t = time.perf_counter()
        for w in range(len(data.workspaces)):
            writer = ScopedVectorStore(
                self.engine, _admin(data, w), model=self.table, resource_type=RESOURCE_TYPE
            )
            members = data.in_workspace(w)
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                await writer.add(
                    [data.chunk_id(int(i)) for i in idx],
                    data.vectors[idx],
                    [{"resource_id": data.resource_of[int(i)]} for i in idx],
                )
        out.seconds["scoped bulk add"] = time.perf_counter() - t
        t = time.perf_counter()
        async with self.engine.begin() as conn:
            await conn.execute(text("SET maintenance_work_mem = '1GB'"))
            await conn.run_sync(hnsw_index(self.table).create)
            await conn.execute(text("ANALYZE bench_chunks"))
        out.seconds["hnsw build"] = time.perf_counter() - t
        if self.with_wardowl:
            from psycopg_pool import ConnectionPool
            from wardowl.backends.pgvector import PgVectorBackend, create_schema

            self.pool = ConnectionPool(self.pg.dsn, min_size=1, max_size=2, open=True)
            self.stack.callback(self.pool.close)
            create_schema(self.pool, data.dim, hnsw=False)
            self.wbackend = PgVectorBackend(self.pool)
            _wardowl_add(self.wbackend, data, out)
            t = time.perf_counter()
            with self.pool.connection() as conn:
                conn.execute("SET maintenance_work_mem = '1GB'")
                create_schema(self.pool, data.dim, hnsw=True)
                conn.execute("ANALYZE wardowl_chunks")
            out.seconds["wardowl hnsw build"] = time.perf_counter() - t
            self.wardowl_ready = True
        return out

    def wardowl_backend(self) -> Any:
        return self.wbackend

    async def native(
        self, q: np.ndarray, ws: str, ids: list[uuid.UUID] | None, k: int
    ) -> list[str]:
        from sqlalchemy import Uuid, any_, bindparam, func, select, true
        from sqlalchemy.dialects.postgresql import ARRAY

        t = self.table
        dist = t.c.embedding.cosine_distance(bindparam("q", q.tolist(), type_=t.c.embedding.type))
        # The columns a service reads back (the wrapper returns them too): the chunk's id,
        # tenancy columns, document and metadata.
        stmt = select(
            t.c.id,
            t.c.workspace_id,
            t.c.resource_id,
            t.c.owner_id,
            t.c.document,
            t.c.meta,
            dist.label("d"),
        ).where(t.c.workspace_id == uuid.UUID(ws))
        if ids is not None:
            stmt = stmt.where(t.c.resource_id == any_(bindparam("ids", ids, type_=ARRAY(Uuid()))))
        stmt = stmt.order_by(dist).limit(k)
        async with self.engine.begin() as conn:
            await conn.execute(
                select(func.set_config("hnsw.iterative_scan", "relaxed_order", true()))
            )
            rows = (await conn.execute(stmt)).all()
        return [r[0] for r in sorted(rows, key=lambda r: r[-1])]

    def scoped_store(self, auth: FixedAuth, strategy: StrategyName | None) -> Any:
        from sentinel_vectors_pgvector import ScopedVectorStore

        return ScopedVectorStore(
            self.engine,
            auth,
            model=self.table,
            resource_type=RESOURCE_TYPE,
            strategy=strategy or "auto",
        )

    async def scoped(self, store: Any, q: np.ndarray, k: int) -> tuple[list[str], bool]:
        hits = await store.query(q, k)
        return [h.id for h in hits], bool(hits.complete)

    async def write_pair(self, data: Dataset, batch: int, tag: str) -> tuple[float, float]:
        from sqlalchemy import insert

        from sentinel_vectors_pgvector import ScopedVectorStore

        ws, owner = data.workspaces[1], data.owners[1]
        writer = ScopedVectorStore(
            self.engine, _admin(data, 1), model=self.table, resource_type=RESOURCE_TYPE
        )
        ids, vecs, res = _fresh_batch(data, batch, hash(tag) % 10_000)
        t = time.perf_counter()
        await writer.add(ids, vecs, [{"resource_id": r} for r in res])
        scoped = time.perf_counter() - t
        rows = [
            {
                "workspace_id": uuid.UUID(ws),
                "id": f"raw-{i}",
                "owner_id": uuid.UUID(owner),
                "resource_id": uuid.UUID(r),
                "document": None,
                "meta": {},
                "embedding": v.tolist(),
            }
            for i, r, v in zip(ids, res, vecs, strict=True)
        ]
        t = time.perf_counter()
        async with self.engine.begin() as conn:
            await conn.execute(insert(self.table), rows)
        raw = time.perf_counter() - t
        return scoped, raw


# -- Qdrant ------------------------------------------------------------------------------


class QdrantRunner(Runner):
    def __init__(self, stack: AsyncExitStack, *, wardowl: bool, url: str | None) -> None:
        self.stack = stack
        self.with_wardowl = wardowl
        self.url = url
        self.name = "qdrant-server" if url else "qdrant-local"
        self.note = (
            "Qdrant server at QDRANT_URL, collection with is_tenant + payload_m=16, m=0"
            if url
            else "Qdrant local mode (QdrantClient(':memory:')): exact numpy search, payload "
            "filters evaluated in Python; no HNSW, no payload index. Not a production path."
        )

    async def load(self, data: Dataset) -> Loaded:
        from qdrant_client import models

        from sentinel_vectors_qdrant import ScopedQdrantClient, ensure_collection

        await self._open()
        await ensure_collection(
            self.scoped_client,
            self.collection,
            models.VectorParams(size=data.dim, distance=models.Distance.COSINE),
        )
        out = Loaded()
        t = time.perf_counter()
        for w in range(len(data.workspaces)):
            writer = ScopedQdrantClient(
                self.scoped_client, _admin(data, w), resource_type=RESOURCE_TYPE
            )
            members = data.in_workspace(w)
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                await writer.upsert(
                    self.collection,
                    points=[
                        models.PointStruct(
                            id=int(i),
                            vector=data.vectors[i].tolist(),
                            payload={"resource_id": data.resource_of[int(i)]},
                        )
                        for i in idx
                    ],
                )
        out.seconds["scoped bulk upsert"] = time.perf_counter() - t
        await self._loaded(out)
        if self.with_wardowl:
            await self._load_wardowl(data, out)
        return out

    @property
    def scoped_client(self) -> Any:
        """The client the scoped client wraps (and the collection is made with)."""
        return self.client

    async def _open(self) -> None:
        """Open ``self.client`` (the raw calls' async client) and name the collection."""
        from qdrant_client import AsyncQdrantClient

        self.client = AsyncQdrantClient(url=self.url) if self.url else AsyncQdrantClient(":memory:")
        self.stack.push_async_callback(self.client.close)
        self.collection = f"bench-{uuid.uuid4().hex[:6]}"

    async def _loaded(self, out: Loaded) -> None:
        """After the scoped load, before wardowl's (nothing to do on a server)."""

    async def _load_wardowl(self, data: Dataset, out: Loaded) -> None:
        from qdrant_client import QdrantClient
        from wardowl.backends.qdrant import QdrantBackend, create_collection

        sync = QdrantClient(url=self.url) if self.url else QdrantClient(":memory:")
        self.stack.callback(sync.close)
        name = f"{self.collection}-wardowl"
        create_collection(sync, name, data.dim, keyword_fields=("workspace_id", "resource_id"))
        self.wbackend = QdrantBackend(sync, name)
        _wardowl_add(self.wbackend, data, out)
        self.wardowl_ready = True

    def wardowl_backend(self) -> Any:
        return self.wbackend

    async def native(
        self, q: np.ndarray, ws: str, answer: list[uuid.UUID] | None, k: int
    ) -> list[str]:
        from qdrant_client import models

        from sentinel_vectors_qdrant import ID_KEY

        must: list[Any] = [
            models.FieldCondition(key="workspace_id", match=models.MatchValue(value=ws))
        ]
        if answer is not None:
            ids = [str(u) for u in answer]
            must.append(models.FieldCondition(key="resource_id", match=models.MatchAny(any=ids)))
        res = await self.client.query_points(
            self.collection,
            query=q.tolist(),
            query_filter=models.Filter(must=must),
            limit=k,
            with_payload=True,
        )
        return [f"c{(p.payload or {}).get(ID_KEY, p.id)}" for p in res.points]

    def scoped_store(self, auth: FixedAuth, strategy: StrategyName | None) -> Any:
        from sentinel_vectors_qdrant import ScopedQdrantClient

        return ScopedQdrantClient(
            self.scoped_client, auth, resource_type=RESOURCE_TYPE, strategy=strategy or "auto"
        )

    async def scoped(self, store: Any, q: np.ndarray, k: int) -> tuple[list[str], bool]:
        res = await store.query_points(self.collection, query=q.tolist(), limit=k)
        return [f"c{p.id}" for p in res.points], bool(res.complete)

    async def write_pair(self, data: Dataset, batch: int, tag: str) -> tuple[float, float]:
        from qdrant_client import models

        from sentinel_vectors_qdrant import ID_KEY, ScopedQdrantClient

        ws, owner = data.workspaces[1], data.owners[1]
        writer = ScopedQdrantClient(
            self.scoped_client, _admin(data, 1), resource_type=RESOURCE_TYPE
        )
        ids, vecs, res = _fresh_batch(data, batch, hash(tag) % 10_000)
        base = 10**9 + (hash(tag) % 10_000) * batch
        points = [
            models.PointStruct(id=base + j, vector=v.tolist(), payload={"resource_id": r})
            for j, (r, v) in enumerate(zip(res, vecs, strict=True))
        ]
        t = time.perf_counter()
        await writer.upsert(self.collection, points=points)
        scoped = time.perf_counter() - t
        raw_points = [
            models.PointStruct(
                id=str(uuid.uuid4()),
                vector=v.tolist(),
                payload={"resource_id": r, "workspace_id": ws, "owner_id": owner, ID_KEY: i},
            )
            for i, r, v in zip(ids, res, vecs, strict=True)
        ]
        t = time.perf_counter()
        await self.client.upsert(self.collection, points=raw_points)
        raw = time.perf_counter() - t
        return scoped, raw


RUNNERS: dict[str, Callable[..., Runner]] = {
    "chroma": ChromaRunner,
    "pgvector": PgvectorRunner,
    "qdrant": QdrantRunner,
    # Qdrant's engine in-process (benchmarks/qdrant_edge.py; imported when used).
    "qdrant-edge": lambda stack, **kw: _edge_runner()(stack, **kw),
}


def _edge_runner() -> Callable[..., Runner]:
    from benchmarks.qdrant_edge import QdrantEdgeRunner

    return QdrantEdgeRunner


@contextlib.asynccontextmanager
async def exit_stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


def timed_sync[T](fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


async def timed[T](coro: Any) -> tuple[T, float]:
    t = time.perf_counter()
    out = await coro
    return out, time.perf_counter() - t


__all__ = ["RUNNERS", "Loaded", "Runner", "asyncio", "exit_stack", "timed", "timed_sync"]


def local_chroma_collection(dim: int) -> Any:
    """An in-process Chroma collection (for counting lookups; no latency is measured on it)."""
    import chromadb

    client = chromadb.EphemeralClient()
    return client.create_collection(f"lookups-{uuid.uuid4().hex[:6]}", embedding_function=None)
