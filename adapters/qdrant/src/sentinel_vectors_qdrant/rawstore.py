"""Qdrant's :class:`~sentinel_vectors.operations.RawStore`: unscoped access for operations.

For the command line and operations scripts only (``sentinel_vectors.operations``);
requests go through :class:`~sentinel_vectors_qdrant.ScopedQdrantClient`.

A point's stored id is ``uuid5`` of its workspace-namespaced id
(:class:`~sentinel_vectors_qdrant.points.PointIds`); the caller's id is in the payload
under :data:`~sentinel_vectors_qdrant.ID_KEY`, the chunk text (if any) under
:data:`~sentinel_vectors.index.TEXT_KEY`. A :class:`StoredRecord` carries the text as
its ``document`` and the rest of the payload as its metadata, so a record moved to
Chroma or pgvector keeps its text in the document column.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from sentinel_vectors.access import WORKSPACE_KEY, namespaced_id
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.index import TEXT_KEY
from sentinel_vectors.operations.store import Finding, RecordId, StoredRecord
from sentinel_vectors_qdrant.points import ID_KEY, PointIds

__all__ = ["QdrantRawStore", "config_findings"]


def _is_local(client: AsyncQdrantClient) -> bool:
    return type(getattr(client, "_client", None)).__name__.endswith("QdrantLocal")


def config_findings(
    info: models.CollectionInfo, name: str, resource_key: str, *, local: bool
) -> list[Finding]:
    """What is wrong with a collection's configuration for scoped use.

    On a server: a ``workspace_id`` keyword index with ``is_tenant=True``, a keyword
    index on the resource key, and a per-tenant HNSW graph (``payload_m`` set). Local mode
    ignores payload indexes and HNSW settings: there is nothing to check.
    """
    if local:
        return [
            Finding(
                "qdrant.local_mode",
                f"collection {name!r} is in local mode: payload indexes and HNSW settings "
                f"do not apply",
                "info",
            )
        ]
    findings: list[Finding] = []
    schema = info.payload_schema or {}
    tenant = schema.get(WORKSPACE_KEY)
    params = getattr(tenant, "params", None)
    if tenant is None:
        findings.append(
            Finding(
                "qdrant.tenant_index",
                f"collection {name!r} has no payload index on {WORKSPACE_KEY!r}: every scoped "
                f"query filters on it and scans the collection. ensure_collection() adds it.",
            )
        )
    elif not getattr(params, "is_tenant", False):
        findings.append(
            Finding(
                "qdrant.is_tenant",
                f"collection {name!r}: the {WORKSPACE_KEY!r} index is not is_tenant=True, so "
                f"Qdrant does not co-locate each workspace's points. Recreate the index.",
            )
        )
    if resource_key not in schema:
        findings.append(
            Finding(
                "qdrant.resource_index",
                f"collection {name!r} has no payload index on the resource key "
                f"{resource_key!r}; ensure_collection() adds it.",
            )
        )
    hnsw = info.config.hnsw_config
    if not hnsw.payload_m:
        findings.append(
            Finding(
                "qdrant.payload_m",
                f"collection {name!r} has no per-tenant HNSW graph (payload_m unset, m="
                f"{hnsw.m}): filtered searches by workspace fall back to a global graph. "
                f"Set payload_m (16) and m=0 (ensure_collection does).",
                "warning",
            )
        )
    return findings


def _point_id(key: str) -> int | str:
    """A neutral key back to Qdrant's id type (unsigned integers are ints)."""
    return int(key) if key.isascii() and key.isdigit() else key


class QdrantRawStore:
    """Unscoped point access to one Qdrant collection.

    Args:
        client: an ``AsyncQdrantClient`` (server, or local mode with ``path=``).
        collection_name: the collection.
        resource_key: the payload key naming each point's resource.
        vector_name: the named vector to read and write (``None``: the unnamed one).
    """

    backend = "qdrant"

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection_name: str,
        *,
        resource_key: str = "resource_id",
        vector_name: str | None = None,
    ) -> None:
        self.client = client
        self.collection_name = collection_name
        self.vector_name = vector_name
        self._resource_key = resource_key

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.collection_name

    @property
    def resource_key(self) -> str:
        """The payload key naming each point's resource."""
        return self._resource_key

    @staticmethod
    def _filter(workspace_id: str | None) -> models.Filter | None:
        if workspace_id is None:
            return None
        return models.Filter(
            must=[
                models.FieldCondition(
                    key=WORKSPACE_KEY, match=models.MatchValue(value=workspace_id)
                )
            ]
        )

    def _vector(self, vector: Any) -> tuple[float, ...] | None:
        if vector is None:
            return None
        if isinstance(vector, Mapping):
            vector = vector.get(self.vector_name or "")
            if vector is None:
                return None
        return tuple(float(x) for x in vector)

    def _record(self, point: Any) -> StoredRecord:
        payload = dict(point.payload or {})
        logical = payload.pop(ID_KEY, None)
        text = payload.pop(TEXT_KEY, None)
        return StoredRecord(
            key=str(point.id),
            id=logical if isinstance(logical, str | int) else point.id,
            document=text if isinstance(text, str) else None,
            metadata=payload,
            embedding=self._vector(getattr(point, "vector", None)),
        )

    async def count(self, workspace_id: str | None = None) -> int:
        """Points in the collection (stamped with ``workspace_id``, if given); exact."""
        got = await self.client.count(
            self.collection_name, count_filter=self._filter(workspace_id), exact=True
        )
        return int(got.count)

    async def scan(
        self,
        *,
        workspace_id: str | None = None,
        batch_size: int = 256,
        embeddings: bool = False,
    ) -> AsyncIterator[list[StoredRecord]]:
        """Every point, ``batch_size`` at a time (``scroll``)."""
        offset: Any = None
        while True:
            points, offset = await self.client.scroll(
                self.collection_name,
                scroll_filter=self._filter(workspace_id),
                limit=batch_size,
                offset=offset,
                with_payload=True,
                with_vectors=[self.vector_name] if embeddings and self.vector_name else embeddings,
            )
            if points:
                yield [self._record(p) for p in points]
            if offset is None:
                return

    async def fetch(self, keys: Sequence[str], *, embeddings: bool = True) -> list[StoredRecord]:
        """The points stored under ``keys``."""
        if not keys:
            return []
        points = await self.client.retrieve(
            self.collection_name,
            ids=[_point_id(k) for k in keys],
            with_payload=True,
            with_vectors=[self.vector_name] if embeddings and self.vector_name else embeddings,
        )
        return [self._record(p) for p in points]

    async def write(self, records: Sequence[StoredRecord]) -> None:
        """Upsert ``records`` under their keys (the caller's id into the payload if stamped)."""
        if not records:
            return
        points = []
        for r in records:
            if r.embedding is None:
                raise InvalidInputError("every point written to Qdrant needs its vector")
            payload = dict(r.metadata)
            if WORKSPACE_KEY in payload:
                payload[ID_KEY] = r.id
            if r.document is not None:
                payload[TEXT_KEY] = r.document
            vector: Any = list(r.embedding)
            if self.vector_name:
                vector = {self.vector_name: vector}
            points.append(models.PointStruct(id=_point_id(r.key), vector=vector, payload=payload))
        await self.client.upsert(self.collection_name, points=points, wait=True)

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete the points stored under ``keys``."""
        if keys:
            await self.client.delete(
                self.collection_name,
                points_selector=models.PointIdsList(points=[_point_id(k) for k in keys]),
                wait=True,
            )

    def physical_key(self, workspace_id: str, record_id: RecordId) -> str:
        """``uuid5`` of the namespaced id, as ``ScopedQdrantClient`` stores it."""
        return PointIds(lambda canonical: namespaced_id(workspace_id, canonical)).physical(
            record_id
        )

    async def nearest(
        self, embedding: Sequence[float], k: int, *, workspace_id: str
    ) -> list[RecordId]:
        """The caller's ids of the ``k`` points of ``workspace_id`` nearest ``embedding``."""
        got = await self.client.query_points(
            self.collection_name,
            query=list(embedding),
            using=self.vector_name,
            query_filter=self._filter(workspace_id),
            limit=k,
            with_payload=[ID_KEY],
        )
        return [self._record(p).id for p in got.points]

    async def dimension(self) -> int:
        """The size of the vector this store reads and writes."""
        info = await self.client.get_collection(self.collection_name)
        vectors = info.config.params.vectors
        if isinstance(vectors, Mapping):
            vectors = vectors.get(self.vector_name or "")
        size = getattr(vectors, "size", None)
        if not isinstance(size, int):
            raise InvalidInputError(
                f"collection {self.name!r} has no vector named {self.vector_name or ''!r}"
            )
        return size

    async def check_config(self) -> list[Finding]:
        """Tenant and resource payload indexes and the per-tenant HNSW graph (on a server)."""
        info = await self.client.get_collection(self.collection_name)
        return config_findings(info, self.name, self.resource_key, local=_is_local(self.client))

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.close()
