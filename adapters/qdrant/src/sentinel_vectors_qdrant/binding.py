"""Qdrant binding: ``ScopedQdrantClient`` per caller, and a chunk index over one collection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from qdrant_client import AsyncQdrantClient, QdrantClient, models

from sentinel_vectors import filters as F
from sentinel_vectors.auth import AuthContext
from sentinel_vectors.binding import StartupProblem
from sentinel_vectors.errors import (
    ReservedKeyError,
    StoreUnavailableError,
    UnsupportedError,
    is_store_outage,
)
from sentinel_vectors.index import (
    TEXT_KEY,
    Chunk,
    Hit,
    StoreChunkIndex,
    chunk_metadata,
)
from sentinel_vectors.scope import WORKSPACE_KEY, Scope
from sentinel_vectors_qdrant.client import ScopedQdrantClient
from sentinel_vectors_qdrant.placement import SHARED_SHARD_KEY, check_engine, check_placement
from sentinel_vectors_qdrant.points import ID_KEY
from sentinel_vectors_qdrant.promotion import shard_states
from sentinel_vectors_qdrant.records import QdrantRecords

__all__ = ["QdrantBackend", "QdrantChunkIndex"]


class QdrantBackend:
    """One Qdrant collection, scoped per caller.

    Args:
        client: an ``AsyncQdrantClient`` (preferred) or ``QdrantClient``. Create the
            collection first, e.g. with ``sentinel_vectors_qdrant.ensure_collection``.
        collection_name: the collection holding the chunks.
        resource_type: the Sentinel resource type (``"document"``).
        resource_key: the payload key naming each chunk's resource.
        vector_name: the named vector to write and search (``None``: the unnamed one).
        options: further ``ScopedQdrantClient`` keyword arguments (``timeout``,
            ``search_params``, ``placement``: :meth:`check` then also checks that the
            collection is sharded by key).

    Chunk texts are stored in the payload under :data:`~sentinel_vectors.index.TEXT_KEY`.
    """

    def __init__(
        self,
        client: AsyncQdrantClient | QdrantClient,
        collection_name: str,
        *,
        resource_type: str,
        resource_key: str = "resource_id",
        vector_name: str | None = None,
        **options: Any,
    ) -> None:
        self.client = client
        self.collection_name = collection_name
        self.vector_name = vector_name
        self._resource_type = resource_type
        self._resource_key = resource_key
        self._options = options
        self._distance: models.Distance | None = None

    async def check(self) -> list[StartupProblem]:
        """Start-up check: the collection exists; on a server, its tenant indexes too.

        A missing collection is fatal. A missing ``workspace_id`` tenant index
        (``is_tenant=True``) or resource-key index is a warning: reads stay correct but
        scan the whole collection. Local mode ignores payload indexes, so they are not
        checked there.
        """

        async def call(method: str, **kwargs: Any) -> Any:
            fn = getattr(self.client, method)
            if isinstance(self.client, AsyncQdrantClient):
                return await fn(**kwargs)
            return await asyncio.to_thread(fn, **kwargs)

        name = self.collection_name
        try:
            if not await call("collection_exists", collection_name=name):
                return [
                    StartupProblem(
                        f"Qdrant collection {name!r} does not exist: create it at deploy "
                        f"time, e.g. with sentinel_vectors_qdrant.ensure_collection()"
                    )
                ]
            info = await call("get_collection", collection_name=name)
        except Exception as exc:
            if is_store_outage(exc):
                raise StoreUnavailableError(
                    f"Qdrant could not be reached at start-up ({type(exc).__name__}: {exc})",
                    store="qdrant",
                ) from exc
            raise
        placed = await self._placement_problems(call, info)
        if placed:
            return placed
        if type(getattr(self.client, "_client", None)).__name__.endswith("QdrantLocal"):
            return []
        schema = info.payload_schema or {}
        problems = []
        tenant = schema.get(WORKSPACE_KEY)
        params = getattr(tenant, "params", None)
        if tenant is None or not getattr(params, "is_tenant", False):
            problems.append(
                StartupProblem(
                    f"Qdrant collection {name!r} has no keyword payload index on "
                    f"{WORKSPACE_KEY!r} with is_tenant=True: every scoped query filters on it "
                    f"and will scan the collection. ensure_collection() adds it.",
                    fatal=False,
                )
            )
        if self._resource_key not in schema:
            problems.append(
                StartupProblem(
                    f"Qdrant collection {name!r} has no payload index on the resource key "
                    f"{self._resource_key!r}; ensure_collection() adds it.",
                    fatal=False,
                )
            )
        return problems

    async def _placement_problems(
        self, call: Callable[..., Awaitable[Any]], info: models.CollectionInfo
    ) -> list[StartupProblem]:
        """A non-shared placement needs a collection sharded by key (and, tiered, its
        fallback shard key) on an engine with shard keys: else nothing can be served."""
        placement = check_placement(self._options.get("placement"))
        if placement.mode == "shared":
            return []
        name = self.collection_name
        try:
            check_engine(self.client, placement)
        except UnsupportedError as exc:
            return [StartupProblem(str(exc))]
        if info.config.params.sharding_method != models.ShardingMethod.CUSTOM:
            return [
                StartupProblem(
                    f"Qdrant collection {name!r} is not sharded by key, which the "
                    f"{placement.mode!r} placement needs: create it with "
                    f"ensure_collection(placement=...)"
                )
            ]
        if placement.mode == "tiered":
            cluster = await call("collection_cluster_info", collection_name=name)
            if SHARED_SHARD_KEY not in shard_states(cluster):
                return [
                    StartupProblem(
                        f"Qdrant collection {name!r} has no fallback shard key "
                        f"{SHARED_SHARD_KEY!r} for the tiered placement; "
                        f"ensure_collection(placement=Placement('tiered')) creates it"
                    )
                ]
        return []

    def __repr__(self) -> str:
        return (
            f"QdrantBackend(collection_name={self.collection_name!r}, "
            f"resource_type={self._resource_type!r})"
        )

    @property
    def resource_type(self) -> str:
        """The Sentinel resource type."""
        return self._resource_type

    def scoped(self, auth: AuthContext) -> ScopedQdrantClient:
        """A ``ScopedQdrantClient`` for ``auth``."""
        return ScopedQdrantClient(
            self.client,
            auth,
            resource_type=self._resource_type,
            resource_key=self._resource_key,
            **self._options,
        )

    def index(self, auth: AuthContext) -> QdrantChunkIndex:
        """The chunk index for ``auth``."""
        return QdrantChunkIndex(
            self.scoped(auth),
            self.collection_name,
            vector_name=self.vector_name,
            distance=self.distance,
        )

    def records(self, auth: AuthContext) -> QdrantRecords:
        """The records-by-id view for ``auth`` (the framework-native vector stores')."""
        return QdrantRecords(
            self.scoped(auth),
            self.collection_name,
            vector_name=self.vector_name,
            distance=self.distance,
        )

    async def distance(self) -> models.Distance:
        """The collection's distance metric (read once from Qdrant, then cached)."""
        if self._distance is None:
            if isinstance(self.client, AsyncQdrantClient):
                info = await self.client.get_collection(self.collection_name)
            else:
                info = await asyncio.to_thread(self.client.get_collection, self.collection_name)
            vectors = info.config.params.vectors
            params = vectors.get(self.vector_name or "") if isinstance(vectors, dict) else vectors
            if params is None:
                raise ValueError(
                    f"collection {self.collection_name!r} has no vector {self.vector_name!r}"
                )
            self._distance = params.distance
        return self._distance


class QdrantChunkIndex(StoreChunkIndex):
    """:class:`~sentinel_vectors.index.ChunkIndex` over a ``ScopedQdrantClient``.

    ``distance`` tells the collection's metric, to turn Qdrant's scores (larger is
    closer for cosine and dot product) into distances (smaller is closer).
    """

    def __init__(
        self,
        client: ScopedQdrantClient,
        collection_name: str,
        *,
        vector_name: str | None = None,
        distance: Callable[[], Awaitable[models.Distance]] | None = None,
    ) -> None:
        self.client = client
        self.collection_name = collection_name
        self.vector_name = vector_name
        self._distance = distance

    @property
    def scope(self) -> Scope:
        """The caller's scope."""
        return self.client.scope

    async def _write_chunks(self, resource_id: str, ids: list[str], chunks: list[Chunk]) -> None:
        points = []
        for i, chunk in enumerate(chunks):
            if ID_KEY in chunk.metadata:
                raise ReservedKeyError(
                    f"chunks[{i}].metadata may not set {ID_KEY!r} on Qdrant: it holds the point id"
                )
            payload = chunk_metadata(self.scope, resource_id, i, chunk)
            payload[TEXT_KEY] = chunk.text
            vector: Any = list(chunk.embedding)
            if self.vector_name is not None:
                vector = {self.vector_name: vector}
            points.append(models.PointStruct(id=ids[i], vector=vector, payload=payload))
        await self.client.upsert(self.collection_name, points)

    async def _remove(self, resource_id: str, keep: Collection[str]) -> int:
        return await self.client._remove_resource(self.collection_name, resource_id, keep)

    async def _count(self, resource_id: str) -> int:
        return await self.client._count_resource(self.collection_name, resource_id)

    async def _owners(self, resource_id: str) -> set[object]:
        return await self.client._resource_owners(self.collection_name, resource_id)

    async def _search(self, embedding: list[float], k: int, flt: F.Filter | None) -> list[Hit]:
        """Qdrant's scores turned into distances (smaller is closer) for the metric."""
        metric = await self._distance() if self._distance is not None else None
        res = await self.client.query_points(
            self.collection_name,
            query=embedding,
            using=self.vector_name,
            query_filter=flt,
            limit=k,
            with_payload=True,
        )
        key = self.scope.resource_key
        hits: list[Hit] = []
        for point in res.points:
            payload = dict(point.payload or {})
            text = payload.pop(TEXT_KEY, "")
            hits.append(
                Hit(
                    id=str(point.id),
                    resource_id=str(payload.get(key, "")),
                    text=str(text),
                    distance=_as_distance(metric, float(point.score)),
                    metadata=payload,
                )
            )
        return hits


def _as_distance(metric: models.Distance | None, score: float) -> float:
    if metric == models.Distance.COSINE:
        return 1.0 - score
    if metric == models.Distance.DOT:
        return -score
    return score  # Euclid and Manhattan scores are distances already
