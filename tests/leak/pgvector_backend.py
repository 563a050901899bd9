"""The pgvector backends of the leak harness, on the session's real PostgreSQL.

``leak_pgvector`` has no vector index: PostgreSQL sorts every candidate, so the search is
exact and the harness checks that nothing is missing. ``leak_pgvector_hnsw`` has an HNSW
index and sequential scans disabled, so every search walks the graph with the store's
iterative scan while the tenancy filter rejects the decoys placed nearest the query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.filters import Filter
from sentinel_vectors.testing.leak import Chunk, Metric
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import PgvectorBackend, ScopedVectorStore, chunk_table, hnsw_index


@dataclass
class _Handle:
    engine: AsyncEngine
    table: Table


class PgvectorLeakBackend:
    """Writes and reads through ``ScopedVectorStore`` on asyncpg."""

    metric: Metric = "l2"

    def __init__(self, name: str, url: str, *, hnsw: bool) -> None:
        self.name = name
        self.url = url
        self.hnsw = hnsw
        self.exact = True  # HNSW over <= 40 points with iterative scans finds them all

    async def fresh(self, dim: int) -> object:
        # The harness runs each example in its own event loop: a loop-bound engine per example.
        settings = {"enable_seqscan": "off"} if self.hnsw else {}
        engine = create_async_engine(self.url, connect_args={"server_settings": settings})
        table = chunk_table(f"leak_{uuid.uuid4().hex[:12]}", MetaData(), dim=dim)
        if self.hnsw:
            hnsw_index(table, "l2")
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
        return _Handle(engine, table)

    def _store(self, handle: object, auth: object) -> ScopedVectorStore:
        assert isinstance(handle, _Handle)
        return ScopedVectorStore(
            handle.engine,
            auth,  # type: ignore[arg-type]
            model=handle.table,
            resource_type="document",
            distance="l2",
        )

    async def write(self, handle: object, auth: object, chunks: Sequence[Chunk]) -> None:
        await self._store(handle, auth).add(
            [c.chunk_id for c in chunks],
            [list(c.vector) for c in chunks],
            [{**c.metadata, "owner_id": c.resource.owner_id} for c in chunks],
        )

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        hits = await self._store(handle, auth).query(list(query), k, filter=flt)
        return [hit.id for hit in hits]

    async def listing(self, handle: object, auth: object, flt: Filter | None) -> list[str]:
        return [record.id for record in await self._store(handle, auth).get(filter=flt)]

    def binding(self, handle: object) -> PgvectorBackend:
        assert isinstance(handle, _Handle)
        return PgvectorBackend(handle.engine, handle.table, resource_type="document")

    async def drop(self, handle: object) -> None:
        assert isinstance(handle, _Handle)
        async with handle.engine.begin() as conn:
            await conn.run_sync(handle.table.metadata.drop_all)
        await handle.engine.dispose()


@pytest.fixture
def leak_pgvector(postgres_server: PostgresServer) -> PgvectorLeakBackend:
    """pgvector without a vector index: exact search."""
    return PgvectorLeakBackend("pgvector", postgres_server.sqlalchemy_url("asyncpg"), hnsw=False)


@pytest.fixture
def leak_pgvector_hnsw(postgres_server: PostgresServer) -> PgvectorLeakBackend:
    """pgvector through an HNSW index with iterative scans (sequential scans disabled)."""
    return PgvectorLeakBackend(
        "pgvector-hnsw", postgres_server.sqlalchemy_url("asyncpg"), hnsw=True
    )
