"""pgvector binding: ``ScopedVectorStore`` per caller, and a chunk index over its table."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors import filters as F
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StartupProblem
from sentinel_vectors.errors import StoreUnavailableError, is_store_outage
from sentinel_vectors.index import (
    Chunk,
    Hit,
    StoreChunkIndex,
    chunk_metadata,
)
from sentinel_vectors.scope import Scope
from sentinel_vectors_pgvector.records import PgvectorRecords
from sentinel_vectors_pgvector.store import ScopedVectorStore

__all__ = ["PgvectorBackend", "PgvectorChunkIndex"]


class PgvectorBackend:
    """One pgvector chunk table, scoped per caller.

    Args:
        engine: an ``AsyncEngine`` (asyncpg).
        model: the chunk table (``chunk_table(...)`` or a ``ChunkMixin`` class).
        resource_type: the Sentinel resource type (``"document"``).
        resource_key: the resource column.
        options: further ``ScopedVectorStore`` keyword arguments (``distance``,
            ``timeout``, ``iterative_scan``, ``ef_search``, ...).

    Chunk texts go to the ``document`` column, bookkeeping keys to the JSONB metadata.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        model: object,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        **options: Any,
    ) -> None:
        self.engine = engine
        self.model = model
        self._resource_type = resource_type
        self._resource_key = resource_key
        self._options = options

    async def check(self) -> list[StartupProblem]:
        """Start-up check: the chunk table exists."""
        table = getattr(self.model, "__table__", self.model)
        name, schema = getattr(table, "name", None), getattr(table, "schema", None)
        if name is None:
            return []
        try:
            async with self.engine.connect() as conn:
                exists = await conn.run_sync(
                    lambda sync: sa_inspect(sync).has_table(name, schema=schema)
                )
        except Exception as exc:
            if is_store_outage(exc):
                raise StoreUnavailableError(
                    f"PostgreSQL could not be reached at start-up ({type(exc).__name__}: {exc})",
                    store="pgvector",
                ) from exc
            raise
        if not exists:
            return [
                StartupProblem(
                    f"the chunk table {name!r} does not exist: create it with your migrations "
                    f"(examples/pgvector_alembic_migration.py) before starting the service"
                )
            ]
        return []

    def __repr__(self) -> str:
        name = getattr(self.model, "name", getattr(self.model, "__tablename__", "?"))
        return f"PgvectorBackend(table={name!r}, resource_type={self._resource_type!r})"

    @property
    def resource_type(self) -> str:
        """The Sentinel resource type."""
        return self._resource_type

    def scoped(self, auth: AuthContext) -> ScopedVectorStore:
        """A ``ScopedVectorStore`` for ``auth``."""
        return ScopedVectorStore(
            self.engine,
            auth,
            model=self.model,
            resource_type=self._resource_type,
            resource_key=self._resource_key,
            **self._options,
        )

    def index(self, auth: AuthContext) -> PgvectorChunkIndex:
        """The chunk index for ``auth``."""
        return PgvectorChunkIndex(self.scoped(auth))

    def records(self, auth: AuthContext) -> PgvectorRecords:
        """The records-by-id view for ``auth`` (the framework-native vector stores')."""
        return PgvectorRecords(self.scoped(auth))


class PgvectorChunkIndex(StoreChunkIndex):
    """:class:`~sentinel_vectors.index.ChunkIndex` over a ``ScopedVectorStore``."""

    def __init__(self, store: ScopedVectorStore) -> None:
        self.store = store

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        return self.store.scope

    async def _write_chunks(self, resource_id: str, ids: list[str], chunks: list[Chunk]) -> None:
        await self.store.upsert(
            ids=ids,
            embeddings=[list(c.embedding) for c in chunks],
            metadatas=[chunk_metadata(self.scope, resource_id, i, c) for i, c in enumerate(chunks)],
            documents=[c.text for c in chunks],
        )

    async def _remove(self, resource_id: str, keep: Collection[str]) -> int:
        return await self.store._remove_resource(resource_id, sorted(keep))

    async def _count(self, resource_id: str) -> int:
        return await self.store._count_resource(resource_id)

    async def _owners(self, resource_id: str) -> set[object]:
        return await self.store._resource_owners(resource_id)

    async def _search(self, embedding: list[float], k: int, flt: F.Filter | None) -> list[Hit]:
        """The store's distance."""
        found = await self.store.query(embedding, k, filter=flt)
        key = self.scope.resource_key
        return [
            Hit(
                id=hit.id,
                resource_id=str(hit.metadata.get(key, "")),
                text=hit.document or "",
                distance=float(hit.distance),
                metadata=dict(hit.metadata),
            )
            for hit in found
        ]
