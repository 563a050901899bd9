"""The vector store behind the service, picked by ``VECTOR_BACKEND``.

Each backend is one small function returning a ``StoreBackend``; the routes never see
which one it is. Embedded by default: Chroma's ``PersistentClient`` (or Qdrant's local
mode) in ``VECTOR_DATA_DIR``, a temporary directory if unset. ``VECTOR_STORE_URL`` points
at a server instead (Chroma or Qdrant URL); pgvector always needs one (a PostgreSQL DSN
for asyncpg, ``postgresql+asyncpg://...``, on a server with the ``vector`` extension).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from examples.fastapi_service.settings import Settings
from sentinel_vectors.binding import StoreBackend


@asynccontextmanager
async def open_backend(settings: Settings) -> AsyncIterator[StoreBackend[Any]]:
    """Connect to (or create) the store for the app's lifetime."""
    async with AsyncExitStack() as stack:
        data_dir = settings.data_dir
        if data_dir is None and settings.store_url is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="docs-service-"))
        if settings.backend == "chroma":
            yield _chroma(settings, data_dir)
        elif settings.backend == "qdrant":
            backend = await _qdrant(settings, data_dir)
            stack.push_async_callback(backend.client.close)
            yield backend
        else:
            backend = await _pgvector(settings)
            stack.push_async_callback(backend.engine.dispose)
            yield backend


def _chroma(settings: Settings, data_dir: str | None) -> StoreBackend[Any]:
    import chromadb

    from sentinel_vectors_chroma import ChromaBackend

    if settings.store_url is not None:
        from urllib.parse import urlsplit

        url = urlsplit(settings.store_url)
        client: Any = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000)
    else:
        client = chromadb.PersistentClient(path=f"{data_dir}/chroma")
    collection = client.get_or_create_collection(settings.collection, embedding_function=None)
    return ChromaBackend(collection, resource_type="document", timeout=settings.permission_timeout)


async def _qdrant(settings: Settings, data_dir: str | None) -> Any:
    from qdrant_client import AsyncQdrantClient, models

    from sentinel_vectors_qdrant import QdrantBackend, ensure_collection

    if settings.store_url is not None:
        client = AsyncQdrantClient(url=settings.store_url)
    else:
        client = AsyncQdrantClient(path=f"{data_dir}/qdrant")
    with warnings.catch_warnings():
        # Local mode warns that it ignores payload indexes; a server uses them.
        warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
        await ensure_collection(
            client,
            settings.collection,
            models.VectorParams(size=settings.embedding_dimension, distance=models.Distance.COSINE),
        )
    return QdrantBackend(
        client,
        settings.collection,
        resource_type="document",
        timeout=settings.permission_timeout,
    )


async def _pgvector(settings: Settings) -> Any:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine

    from sentinel_vectors_pgvector import PgvectorBackend, chunk_table, hnsw_index

    if settings.store_url is None:
        raise RuntimeError(
            "VECTOR_BACKEND=pgvector needs VECTOR_STORE_URL, e.g. "
            "postgresql+asyncpg://user:password@localhost/docs (with the vector extension)"
        )
    engine = create_async_engine(settings.store_url)
    table = chunk_table(settings.collection, MetaData(), dim=settings.embedding_dimension)
    hnsw_index(table, "cosine")
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.run_sync(table.metadata.create_all)
    return PgvectorBackend(
        engine, table, resource_type="document", timeout=settings.permission_timeout
    )
