"""The backends of the write harness (``sentinel_vectors.testing.write_leak``).

Each one writes through the scoped wrapper and the backend binding, and reads the whole
collection back with the native client, unscoped, so that anything a write left in any
workspace shows up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import chromadb
import pytest
from qdrant_client import QdrantClient, models
from sqlalchemy import MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.scope import WORKSPACE_KEY
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors.testing.write_leak import RESOURCE_TYPE, StoredRecords
from sentinel_vectors_chroma import ChromaBackend
from sentinel_vectors_pgvector import PgvectorBackend, chunk_table
from sentinel_vectors_qdrant import QdrantBackend, ensure_collection
from sentinel_vectors_qdrant.points import ID_KEY
from tests.leak.qdrant_backend import EDGE_LEAK_EXAMPLES
from tests.qdrant.conftest import edge_client

_VECTOR = [0.5, -0.25, 1.0, 0.125]


class ChromaWriteBackend:
    """A collection on the session's real Chroma server."""

    name = "chroma-http"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def fresh(self, dim: int) -> object:
        return self.client.create_collection(
            f"write-{uuid.uuid4().hex[:12]}", embedding_function=None
        )

    def binding(self, handle: object) -> ChromaBackend:
        return ChromaBackend(handle, resource_type=RESOURCE_TYPE)

    async def raw_upsert(
        self, handle: object, auth: object, record_id: str, resource_id: str
    ) -> None:
        await (
            self.binding(handle)
            .scoped(auth)
            .upsert(  # type: ignore[arg-type]
                ids=[record_id], embeddings=[_VECTOR], metadatas=[{"resource_id": resource_id}]
            )
        )

    async def raw_delete(self, handle: object, auth: object, record_ids: Sequence[str]) -> None:
        await self.binding(handle).scoped(auth).delete(ids=list(record_ids))  # type: ignore[arg-type]

    async def stored(self, handle: object) -> StoredRecords:
        got = handle.get(include=["metadatas"])  # type: ignore[attr-defined]
        out: StoredRecords = {}
        for physical, meta in zip(got["ids"], got["metadatas"], strict=True):
            ws = str(meta[WORKSPACE_KEY])
            out[(ws, physical.removeprefix(f"{ws}:"))] = str(meta["resource_id"])
        return out

    async def drop(self, handle: object) -> None:
        self.client.delete_collection(handle.name)  # type: ignore[attr-defined]


class QdrantWriteBackend:
    """A collection in qdrant-client's local mode."""

    name = "qdrant-local"
    max_examples: int | None = None
    """Caps the harness's examples for this backend (``None``: ``LEAK_EXAMPLES``)."""

    def __init__(self, client: QdrantClient, name: str = "qdrant-local") -> None:
        self.client = client
        self.name = name

    async def fresh(self, dim: int) -> object:
        name = f"write-{uuid.uuid4().hex[:12]}"
        await ensure_collection(
            self.client, name, models.VectorParams(size=dim, distance=models.Distance.EUCLID)
        )
        return name

    def binding(self, handle: object) -> QdrantBackend:
        return QdrantBackend(self.client, str(handle), resource_type=RESOURCE_TYPE)

    async def raw_upsert(
        self, handle: object, auth: object, record_id: str, resource_id: str
    ) -> None:
        point = models.PointStruct(
            id=record_id, vector=_VECTOR, payload={"resource_id": resource_id}
        )
        await self.binding(handle).scoped(auth).upsert(str(handle), [point])  # type: ignore[arg-type]

    async def raw_delete(self, handle: object, auth: object, record_ids: Sequence[str]) -> None:
        await (
            self.binding(handle)
            .scoped(auth)
            .delete(  # type: ignore[arg-type]
                str(handle), models.PointIdsList(points=list(record_ids))
            )
        )

    async def stored(self, handle: object) -> StoredRecords:
        records, _ = self.client.scroll(str(handle), limit=100_000, with_payload=True)
        out: StoredRecords = {}
        for record in records:
            payload = record.payload or {}
            out[(str(payload[WORKSPACE_KEY]), str(payload[ID_KEY]))] = str(payload["resource_id"])
        return out

    async def drop(self, handle: object) -> None:
        self.client.delete_collection(str(handle))


@dataclass
class _Table:
    engine: AsyncEngine
    table: Table


class PgvectorWriteBackend:
    """A chunk table on the session's real PostgreSQL (asyncpg)."""

    name = "pgvector"

    def __init__(self, url: str) -> None:
        self.url = url

    async def fresh(self, dim: int) -> object:
        engine = create_async_engine(self.url)
        table = chunk_table(f"write_{uuid.uuid4().hex[:12]}", MetaData(), dim=dim)
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        return _Table(engine, table)

    def binding(self, handle: object) -> PgvectorBackend:
        assert isinstance(handle, _Table)
        return PgvectorBackend(handle.engine, handle.table, resource_type=RESOURCE_TYPE)

    async def raw_upsert(
        self, handle: object, auth: object, record_id: str, resource_id: str
    ) -> None:
        await (
            self.binding(handle)
            .scoped(auth)
            .upsert(  # type: ignore[arg-type]
                [record_id], [_VECTOR], [{"resource_id": resource_id}]
            )
        )

    async def raw_delete(self, handle: object, auth: object, record_ids: Sequence[str]) -> None:
        await self.binding(handle).scoped(auth).delete(list(record_ids))  # type: ignore[arg-type]

    async def stored(self, handle: object) -> StoredRecords:
        assert isinstance(handle, _Table)
        c = handle.table.c
        async with handle.engine.connect() as conn:
            rows = (await conn.execute(select(c.workspace_id, c.id, c.resource_id))).all()
        return {(str(ws), str(rid)): str(res) for ws, rid, res in rows}

    async def drop(self, handle: object) -> None:
        assert isinstance(handle, _Table)
        async with handle.engine.begin() as conn:
            await conn.run_sync(handle.table.metadata.drop_all)
        await handle.engine.dispose()


@pytest.fixture
def write_chroma_http(chroma_http: ChromaServer) -> ChromaWriteBackend:
    """Chroma over HTTP against the session's real server."""
    return ChromaWriteBackend(chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port))


@pytest.fixture
def write_qdrant_local() -> Iterator[QdrantWriteBackend]:
    """Qdrant's local mode, in memory."""
    client = QdrantClient(":memory:")
    yield QdrantWriteBackend(client)
    client.close()


@pytest.fixture
def write_qdrant_edge() -> Iterator[QdrantWriteBackend]:
    """Qdrant's own engine in-process (qdrant-edge), fewer examples (``LEAK_EDGE_EXAMPLES``)."""
    client = edge_client()
    backend = QdrantWriteBackend(client, "qdrant-edge")
    backend.max_examples = EDGE_LEAK_EXAMPLES
    yield backend
    client.close()


@pytest.fixture
def write_pgvector(postgres_server: PostgresServer) -> PgvectorWriteBackend:
    """pgvector on the session's real PostgreSQL."""
    return PgvectorWriteBackend(postgres_server.sqlalchemy_url("asyncpg"))
