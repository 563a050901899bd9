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
from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.leak import Chunk, Metric
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import (
    PgvectorBackend,
    ScopedVectorStore,
    chunk_table,
    create_workspace_partition,
    hnsw_index,
    partitioning_ddl,
)


@dataclass
class _Handle:
    engine: AsyncEngine
    table: Table


class PgvectorLeakBackend:
    """Writes and reads through ``ScopedVectorStore`` on asyncpg."""

    metric: Metric = "l2"

    def __init__(
        self, name: str, url: str, *, hnsw: bool, tiered: bool = False, per_tenant: bool = False
    ) -> None:
        self.name = name
        self.url = url
        self.hnsw = hnsw
        self.tiered = tiered  # partitioned by workspace, about half the workspaces promoted
        # per_tenant: partitioned, no default partition; every workspace onboarded
        # (its own partition) before its first write
        self.per_tenant = per_tenant
        # A partitioned table (DDL for the partitions and their HNSW indexes) per example
        # costs ~1.7 s on the CI machine: a modest count keeps the CI budget.
        self.max_examples = 15 if (tiered or per_tenant) else None
        self.exact = True  # HNSW over <= 40 points with iterative scans finds them all

    async def fresh(self, dim: int) -> object:
        # The harness runs each example in its own event loop: a loop-bound engine per example.
        settings = {"enable_seqscan": "off"} if self.hnsw else {}
        engine = create_async_engine(self.url, connect_args={"server_settings": settings})
        table = chunk_table(
            f"leak_{uuid.uuid4().hex[:12]}",
            MetaData(),
            dim=dim,
            partitioned=self.tiered or self.per_tenant,
        )
        if self.hnsw:
            hnsw_index(table, "l2")
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            for stmt in (
                partitioning_ddl(table, Placement("tiered"), hash_partitions=2)
                if (self.tiered)
                else []
            ):
                await conn.execute(stmt)
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
        assert isinstance(handle, _Handle)
        ws = str(getattr(auth, "workspace_id", ""))
        if self.per_tenant or (self.tiered and int(ws.replace("-", "")[-1], 16) % 2 == 0):
            # A promoted (or per-tenant, onboarded) workspace: its own partition (and HNSW
            # graph) from its first write.
            async with handle.engine.begin() as conn:
                await conn.run_sync(create_workspace_partition, handle.table, ws)
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


@pytest.fixture
def leak_pgvector_tiered(postgres_server: PostgresServer) -> PgvectorLeakBackend:
    """pgvector partitioned by workspace (tiered): HNSW per partition, half promoted."""
    return PgvectorLeakBackend(
        "pgvector-tiered", postgres_server.sqlalchemy_url("asyncpg"), hnsw=True, tiered=True
    )


@pytest.fixture
def leak_pgvector_per_tenant(postgres_server: PostgresServer) -> PgvectorLeakBackend:
    """pgvector partitioned by workspace (per_tenant): no default partition, HNSW per
    workspace partition, each created at the workspace's first write (onboarding)."""
    return PgvectorLeakBackend(
        "pgvector-per-tenant",
        postgres_server.sqlalchemy_url("asyncpg"),
        hnsw=True,
        per_tenant=True,
    )
