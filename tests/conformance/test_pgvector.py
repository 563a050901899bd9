"""The conformance suite on pgvector: the embedded PostgreSQL 18 (or ``DATABASE_URL``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.auth import AuthContext
from sentinel_vectors.placement import Placement
from sentinel_vectors.scope import Scope
from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceSuite,
    ConformanceTarget,
    ReadRules,
    WriteRules,
)
from sentinel_vectors.testing.servers import PostgresServer
from sentinel_vectors_pgvector import (
    PgvectorBackend,
    ScopedVectorStore,
    chunk_table,
    create_workspace_partition,
    partitioning_ddl,
)

COLUMNS = ("workspace_id", "owner_id", "resource_id")


class _Onboarding(PgvectorBackend):
    """``per_tenant``: each workspace gets its partition the first time a caller of it is
    scoped (onboarding, through a sync engine), so every workspace the suite makes has one."""

    def __init__(self, engine: AsyncEngine, onboard: Engine, table: Table) -> None:
        super().__init__(engine, table, resource_type="document")
        self._onboard = onboard
        self._seen: set[str] = set()

    def scoped(self, auth: AuthContext) -> ScopedVectorStore:
        ws = Scope.of(auth, resource_type=self.resource_type).workspace_id
        if ws not in self._seen:
            self._seen.add(ws)
            with self._onboard.begin() as conn:
                create_workspace_partition(conn, self.model, ws)
        return super().scoped(auth)


class _Tables:
    """The backend factory: a fresh chunk table per world (partitioned or not)."""

    partitioned = False
    placement = Placement("tiered")

    @pytest.fixture
    def backend_factory(self, postgres_server: PostgresServer) -> BackendFactory:
        @asynccontextmanager
        async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
            engine = create_async_engine(postgres_server.sqlalchemy_url("asyncpg"))
            table = chunk_table(
                f"conf_{uuid.uuid4().hex[:12]}",
                MetaData(),
                dim=dimension,
                partitioned=self.partitioned,
            )
            async with engine.begin() as conn:
                await conn.run_sync(table.metadata.create_all)
                if self.partitioned:
                    for stmt in partitioning_ddl(table, self.placement, hash_partitions=2):
                        await conn.execute(stmt)
            onboard = create_engine(postgres_server.sqlalchemy_url("psycopg"))
            backend = (
                _Onboarding(engine, onboard, table)
                if self.placement.mode == "per_tenant"
                else PgvectorBackend(engine, table, resource_type="document")
            )

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                column = table.c[key] if key in COLUMNS else table.c.meta[key].astext
                async with engine.connect() as conn:
                    rows = (await conn.execute(select(table).where(column == value))).mappings()
                    return [{**row["meta"], **{c: str(row[c]) for c in COLUMNS}} for row in rows]

            yield ConformanceTarget(backend, records)
            async with engine.begin() as conn:
                await conn.run_sync(table.metadata.drop_all)
            await engine.dispose()
            onboard.dispose()

        return factory


class TestPgvector(_Tables, ConformanceSuite):
    """Every neutral rule on a fresh chunk table, over asyncpg."""


class TestPgvectorPartitioned(_Tables, ReadRules, WriteRules):
    """The read and write rules on a table partitioned by workspace (tiered placement; the
    shared default partition hashed in two, so the suite's workspaces sit in separate
    partitions). The lifecycle and bad-input rules do not depend on placement: they run
    once, above, within the CI budget."""

    pytestmark = pytest.mark.asyncio
    partitioned = True


class TestPgvectorPerTenant(_Tables, ReadRules, WriteRules):
    """The read and write rules under ``per_tenant``: no default partition, each workspace
    in the partition created when it is first seen (``create_workspace_partition``, the
    onboarding step), so every read and write is routed to one workspace's partition."""

    pytestmark = pytest.mark.asyncio
    partitioned = True
    placement = Placement("per_tenant")
