"""Audit tests: the conformance world on each backend, with an auditor installed.

``backend_factory`` builds a fresh collection on the Chroma server (``chroma_http``),
Qdrant local mode or the embedded PostgreSQL (``postgres_server``), as the conformance
suite does; ``collected`` installs an auditor whose inline sink keeps every event, and
``installed`` with :func:`install` the auditors a test builds itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sentinel_vectors import audit
from sentinel_vectors.events import AuditEvent, EventKind
from sentinel_vectors.testing.conformance import BackendFactory, ConformanceTarget


class Collect:
    """An inline sink that keeps every event (and can be told to fail)."""

    inline = True

    def __init__(self, *, inline: bool = True, fail: bool = False) -> None:
        self.inline = inline
        self.fail = fail
        self.events: list[AuditEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    def emit(self, event: AuditEvent) -> None:
        if self.fail:
            raise OSError("the audit store is down")
        self.events.append(event)

    def close(self) -> None:
        pass

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def collected() -> Iterator[Collect]:
    """The process's auditor, for one test: everything kept in memory."""
    sink = Collect()
    previous = audit.use(audit.Auditor([sink]))
    try:
        yield sink
    finally:
        audit.use(previous)


@pytest.fixture
def installed() -> Iterator[list[audit.Auditor]]:
    """Install auditors for one test (see :func:`install`); restore the process's and
    close them after."""
    made: list[audit.Auditor] = []
    previous = audit.get_auditor()
    yield made
    audit.use(previous)
    for a in made:
        a.close()


def install(made: list[audit.Auditor], auditor: audit.Auditor) -> audit.Auditor:
    """Make ``auditor`` the process's for the rest of the test (``made``: ``installed``)."""
    made.append(auditor)
    audit.use(auditor)
    return auditor


def _chroma(server: Any) -> BackendFactory:
    import chromadb

    from sentinel_vectors_chroma import ChromaBackend

    @asynccontextmanager
    async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
        client = chromadb.HttpClient(host=server.host, port=server.port)
        name = f"audit-{uuid.uuid4().hex[:12]}"
        collection = client.create_collection(name, embedding_function=None)

        async def records(key: str, value: str) -> list[Mapping[str, Any]]:
            got = await asyncio.to_thread(collection.get, where={key: value}, include=["metadatas"])
            return [dict(m or {}) for m in got["metadatas"]]

        yield ConformanceTarget(ChromaBackend(collection, resource_type="document"), records)
        client.delete_collection(name)

    return factory


def _qdrant() -> BackendFactory:
    from qdrant_client import AsyncQdrantClient, models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection

    @asynccontextmanager
    async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
        client = AsyncQdrantClient(":memory:")
        name = f"audit-{uuid.uuid4().hex[:12]}"
        await ensure_collection(
            client, name, models.VectorParams(size=dimension, distance=models.Distance.COSINE)
        )

        async def records(key: str, value: str) -> list[Mapping[str, Any]]:
            match = models.FieldCondition(key=key, match=models.MatchValue(value=value))
            points, _ = await client.scroll(name, scroll_filter=models.Filter(must=[match]))
            return [dict(p.payload or {}) for p in points]

        yield ConformanceTarget(QdrantBackend(client, name, resource_type="document"), records)
        await client.close()

    return factory


def _pgvector(server: Any) -> BackendFactory:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors_pgvector import PgvectorBackend, chunk_table

    @asynccontextmanager
    async def factory(dimension: int) -> AsyncIterator[ConformanceTarget]:
        engine = create_async_engine(server.sqlalchemy_url("asyncpg"))
        table = chunk_table(f"audit_{uuid.uuid4().hex[:12]}", MetaData(), dim=dimension)
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)

        async def records(key: str, value: str) -> list[Mapping[str, Any]]:
            raise NotImplementedError  # the audit tests read through the scope only

        yield ConformanceTarget(PgvectorBackend(engine, table, resource_type="document"), records)
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()

    return factory


@pytest.fixture(params=["chroma", "qdrant", "pgvector"])
def backend_factory(request: pytest.FixtureRequest) -> BackendFactory:
    """A fresh collection of each backend (servers started once per session)."""
    if request.param == "chroma":
        return _chroma(request.getfixturevalue("chroma_http"))
    if request.param == "pgvector":
        return _pgvector(request.getfixturevalue("postgres_server"))
    return _qdrant()
