"""The conformance suite on pgvector: the embedded PostgreSQL 18 (or ``DATABASE_URL``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

from sentinel_vectors.placement import Placement
from sentinel_vectors.testing.conformance import (
    BackendFactory,
    ConformanceSuite,
    ConformanceTarget,
    ReadRules,
    WriteRules,
)
from sentinel_vectors.testing.servers import PostgresServer
from sentinel_vectors_pgvector import PgvectorBackend, chunk_table, partitioning_ddl

COLUMNS = ("workspace_id", "owner_id", "resource_id")


class _Tables:
    """The backend factory: a fresh chunk table per world (partitioned or not)."""

    partitioned = False

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
                    for stmt in partitioning_ddl(table, Placement("tiered"), hash_partitions=2):
                        await conn.execute(stmt)

            async def records(key: str, value: str) -> list[Mapping[str, Any]]:
                column = table.c[key] if key in COLUMNS else table.c.meta[key].astext
                async with engine.connect() as conn:
                    rows = (await conn.execute(select(table).where(column == value))).mappings()
                    return [{**row["meta"], **{c: str(row[c]) for c in COLUMNS}} for row in rows]

            yield ConformanceTarget(
                PgvectorBackend(engine, table, resource_type="document"), records
            )
            async with engine.begin() as conn:
                await conn.run_sync(table.metadata.drop_all)
            await engine.dispose()

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
