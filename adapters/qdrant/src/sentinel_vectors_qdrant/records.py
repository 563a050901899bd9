"""Qdrant: the neutral ``RecordStore`` (records by id) over a ``ScopedQdrantClient``.

Qdrant point ids are unsigned integers or UUIDs, while LangChain and LlamaIndex ids are
any strings. A record id that is a UUID (or a chunk id ``"<uuid>:<n>"``) is the point id
as it is; any other string is stored under ``uuid5`` of it, with the record id kept in
the payload under :data:`RECORD_ID_KEY` and returned exactly as written. Either way the
scoped client namespaces the stored id per workspace, like every id it writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from qdrant_client import models

from sentinel_vectors import filters as F
from sentinel_vectors.errors import InvalidInputError, ReservedKeyError
from sentinel_vectors.index import TEXT_KEY
from sentinel_vectors.records import Record, StoreRecords
from sentinel_vectors.scope import Scope
from sentinel_vectors_qdrant.client import ScopedQdrantClient
from sentinel_vectors_qdrant.points import ID_KEY, PointIds

__all__ = ["RECORD_ID_KEY", "QdrantRecords"]

RECORD_ID_KEY = "sentinel_record_id"
"""Payload key of a record id that is not a valid Qdrant point id (kept as written)."""

_PAGE = 256  # points per scroll page when listing by filter

# Fixed namespace of point ids derived from record ids; changing it orphans stored points.
_NAMESPACE = uuid.UUID("0d6f3a52-8c1e-4b7a-9f35-2e4c6a8b1d07")


def point_id(record_id: str) -> str:
    """The point id a record id is stored under (itself when Qdrant accepts it)."""
    try:
        PointIds.logical(record_id)
    except InvalidInputError:
        return str(uuid.uuid5(_NAMESPACE, record_id))
    return record_id


class QdrantRecords(StoreRecords):
    """Records of one caller in one Qdrant collection; every call goes through the scoped client.

    Texts are stored in the payload under :data:`~sentinel_vectors.index.TEXT_KEY`;
    scores are turned into distances (smaller is closer) for the collection's metric.
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

    async def _put(
        self,
        ids: list[str],
        texts: list[str],
        embeddings: list[list[float]],
        metadatas: list[dict[str, Any]],
    ) -> None:
        points = []
        for i, rid in enumerate(ids):
            clash = {TEXT_KEY, ID_KEY, RECORD_ID_KEY} & set(metadatas[i])
            if clash:
                raise ReservedKeyError(
                    f"metadatas[{i}] may not set {sorted(clash)} on Qdrant: they hold the "
                    f"text and the ids"
                )
            payload = dict(metadatas[i])
            payload[TEXT_KEY] = texts[i]
            pid = point_id(rid)
            if pid != rid:
                payload[RECORD_ID_KEY] = rid
            vector: Any = embeddings[i]
            if self.vector_name is not None:
                vector = {self.vector_name: vector}
            points.append(models.PointStruct(id=pid, vector=vector, payload=payload))
        await self.client.upsert(self.collection_name, points)

    async def _get(self, ids: list[str], with_embeddings: bool) -> list[Record]:
        found = await self.client.retrieve(
            self.collection_name,
            [point_id(i) for i in ids],
            with_payload=True,
            with_vectors=self._with_vectors(with_embeddings),
        )
        return [self._record(p, None) for p in found]

    async def _select(self, flt: F.Filter | None, limit: int | None) -> list[Record]:
        out: list[Record] = []
        offset: Any = None
        while limit is None or len(out) < limit:
            page = _PAGE if limit is None else min(_PAGE, limit - len(out))
            points, offset = await self.client.scroll(
                self.collection_name, scroll_filter=flt, limit=page, offset=offset
            )
            out.extend(self._record(p, None) for p in points)
            if offset is None:
                break
        return out

    async def _delete(self, ids: list[str]) -> int:
        pids: list[int | str | uuid.UUID] = [point_id(i) for i in ids]
        # How many the caller may see (and so delete): the client's delete tells no count.
        seen = await self.client.retrieve(self.collection_name, pids, with_payload=False)
        await self.client.delete(self.collection_name, models.PointIdsList(points=pids))
        return len(seen)

    async def _delete_where(self, flt: F.Filter) -> None:
        await self.client.delete(self.collection_name, flt)

    async def _search(
        self, embedding: list[float], k: int, flt: F.Filter | None, with_embeddings: bool
    ) -> list[Record]:
        metric = await self._distance() if self._distance is not None else None
        res = await self.client.query_points(
            self.collection_name,
            query=embedding,
            using=self.vector_name,
            query_filter=flt,
            limit=k,
            with_payload=True,
            with_vectors=self._with_vectors(with_embeddings),
        )
        return [self._record(p, _as_distance(metric, float(p.score))) for p in res.points]

    def _with_vectors(self, wanted: bool) -> bool | list[str]:
        if not wanted:
            return False
        return [self.vector_name] if self.vector_name is not None else True

    def _record(self, point: models.Record | models.ScoredPoint, distance: float | None) -> Record:
        payload = dict(point.payload or {})
        text = payload.pop(TEXT_KEY, "")
        rid = payload.pop(RECORD_ID_KEY, None)
        vector: Any = point.vector
        if isinstance(vector, dict):
            vector = vector.get(self.vector_name or "")
        return Record(
            id=str(rid) if rid is not None else str(point.id),
            text=str(text),
            metadata=payload,
            embedding=None if vector is None else [float(x) for x in vector],
            distance=distance,
        )


def _as_distance(metric: models.Distance | None, score: float) -> float:
    if metric == models.Distance.COSINE:
        return 1.0 - score
    if metric == models.Distance.DOT:
        return -score
    return score  # Euclid and Manhattan scores are distances already
