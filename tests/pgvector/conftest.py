"""pgvector fixtures: the real PostgreSQL 18 + pgvector server, engines, a fresh chunk table.

The server is ``postgres_server`` (``sentinel_vectors.testing.servers``, or ``DATABASE_URL``), a
session fixture of ``tests/conftest.py``, so that every package of the suite shares one server.
Every test gets its own table (a fresh name), dropped afterwards, so tests are independent
and a shared server stays clean.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, event, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_pgvector import chunk_table

DIM = 8


@pytest.fixture(scope="session")
def sync_engine(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A psycopg 3 engine as the superuser (DDL, raw checks, the sync store)."""
    engine = create_engine(postgres_server.sqlalchemy_url("psycopg"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
async def async_engine(postgres_server: PostgresServer) -> AsyncIterator[AsyncEngine]:
    """An asyncpg engine: the driver the package depends on."""
    engine = create_async_engine(postgres_server.sqlalchemy_url("asyncpg"))
    yield engine
    await engine.dispose()


class SqlLog:
    """Statements an engine sent, observed with SQLAlchemy's cursor event."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements.append((statement, params))

    def clear(self) -> None:
        self.statements.clear()

    def texts(self) -> list[str]:
        return [s for s, _ in self.statements]


@pytest.fixture
def sql_log(async_engine: AsyncEngine) -> Iterator[SqlLog]:
    """Every statement the async engine runs during the test."""
    log = SqlLog()
    event.listen(async_engine.sync_engine, "before_cursor_execute", log)
    yield log
    event.remove(async_engine.sync_engine, "before_cursor_execute", log)


@pytest.fixture
def chunks(sync_engine: Engine) -> Iterator[Table]:
    """A fresh, empty chunk table of dimension 8."""
    table = chunk_table(f"chunks_{uuid.uuid4().hex[:10]}", MetaData(), dim=DIM)
    table.metadata.create_all(sync_engine)
    yield table
    table.metadata.drop_all(sync_engine)


@pytest.fixture
async def tenancy(sentinel_emulator_clean: RunningEmulator) -> AsyncIterator[Tenancy]:
    """Members and resources on a clean emulator, with one real PermissionClient."""
    client = sentinel_emulator_clean.permission_client()
    yield Tenancy(sentinel_emulator_clean, client)
    await client.close()  # type: ignore[no-untyped-call]


def vec(seed: int, dim: int = DIM) -> list[float]:
    """A deterministic vector."""
    return [float(x) for x in np.random.default_rng(seed).normal(size=dim)]


def bulk_load(engine: Engine, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows directly (as the superuser, no store): one executemany statement.

    For data the store would never write (tampered rows, other workspaces' rows with
    chosen ids) and for large fixtures.
    """
    with engine.begin() as conn:
        conn.execute(insert(table), list(rows))


def raw_row(
    workspace: uuid.UUID | str,
    rid: str,
    resource: uuid.UUID | str,
    *,
    owner: uuid.UUID | str | None = None,
    meta: dict[str, Any] | None = None,
    embedding: list[float] | None = None,
    document: str | None = None,
) -> dict[str, Any]:
    """A row for :func:`bulk_load`."""
    return {
        "workspace_id": uuid.UUID(str(workspace)),
        "id": rid,
        "owner_id": uuid.UUID(str(owner)) if owner is not None else uuid.uuid4(),
        "resource_id": uuid.UUID(str(resource)),
        "document": document,
        "meta": meta or {},
        "embedding": embedding or vec(sum(map(ord, rid))),
    }
