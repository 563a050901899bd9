"""VectorStores.check() and install(): what can be checked before the first request is.

Real stores throughout: a Chroma PersistentClient, Qdrant local mode (and a server with
QDRANT_URL), the session's PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import chromadb
import pytest
from fastapi import FastAPI
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from sentinel_vectors.fastapi import VectorStores, scoped_store
from sentinel_vectors.testing.server import RunningEmulator
from sentinel_vectors.testing.servers.postgres import PostgresServer
from sentinel_vectors_chroma import ChromaBackend
from sentinel_vectors_pgvector import PgvectorBackend, chunk_table
from sentinel_vectors_qdrant import QdrantBackend, ensure_collection


async def test_a_deleted_chroma_collection_refuses_start_up(
    tmp_path: Path, sentinel_emulator: RunningEmulator
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    collection = client.get_or_create_collection("documents", embedding_function=None)
    stores = VectorStores(sentinel_emulator.permission_client())
    stores.add("documents", ChromaBackend(collection, resource_type="document"))
    assert await stores.check() == []
    client.delete_collection("documents")
    with pytest.raises(ValueError, match="store 'documents': Chroma collection 'documents'"):
        await stores.check()
    await stores.permissions.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_missing_qdrant_collection_refuses_start_up(
    kind: str, sentinel_emulator: RunningEmulator
) -> None:
    client = QdrantClient(":memory:") if kind == "sync" else AsyncQdrantClient(":memory:")
    stores = VectorStores(sentinel_emulator.permission_client())
    stores.add("documents", QdrantBackend(client, "docs", resource_type="document"))
    with pytest.raises(ValueError, match=r"'docs' does not exist.*ensure_collection"):
        await stores.check()
    await ensure_collection(client, "docs", models.VectorParams(size=4, distance="Cosine"))
    assert await stores.check() == []  # local mode: payload indexes are not checked
    await stores.permissions.close()  # type: ignore[union-attr]


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="needs a Qdrant server (QDRANT_URL)")
async def test_a_qdrant_collection_without_tenant_index_warns(
    sentinel_emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncQdrantClient(url=os.environ["QDRANT_URL"])
    name = f"no_index_{uuid.uuid4().hex}"
    await client.create_collection(name, models.VectorParams(size=4, distance="Cosine"))
    try:
        stores = VectorStores(sentinel_emulator.permission_client())
        stores.add("documents", QdrantBackend(client, name, resource_type="document"))
        with caplog.at_level(logging.WARNING, logger="sentinel_vectors.fastapi"):
            warnings = await stores.check()
        assert any("is_tenant=True" in w for w in warnings)
        assert "is_tenant=True" in caplog.text
        await ensure_collection(client, name, models.VectorParams(size=4, distance="Cosine"))
        assert await stores.check() == []
    finally:
        await client.delete_collection(name)


async def test_a_missing_pgvector_table_refuses_start_up(
    postgres_server: PostgresServer, sentinel_emulator: RunningEmulator
) -> None:
    engine = create_async_engine(postgres_server.sqlalchemy_url("asyncpg"))
    table = chunk_table(f"missing_{uuid.uuid4().hex[:8]}", MetaData(), dim=4)
    stores = VectorStores(sentinel_emulator.permission_client())
    stores.add("documents", PgvectorBackend(engine, table, resource_type="document"))
    with pytest.raises(ValueError, match=r"chunk table 'missing_\w+' does not exist"):
        await stores.check()
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    try:
        assert await stores.check() == []
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()
        await stores.permissions.close()  # type: ignore[union-attr]


def test_install_warns_about_a_store_name_no_backend_answers(
    tmp_path: Path, sentinel_emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    scoped_store("documnets")  # a typo in a route's dependency, declared at import time
    collection = chromadb.PersistentClient(path=str(tmp_path)).get_or_create_collection(
        "documents", embedding_function=None
    )
    stores = VectorStores(sentinel_emulator.permission_client())
    stores.add("documents", ChromaBackend(collection, resource_type="document"))
    with caplog.at_level(logging.WARNING, logger="sentinel_vectors.fastapi"):
        stores.install(FastAPI())
    assert "'documnets'" in caplog.text
