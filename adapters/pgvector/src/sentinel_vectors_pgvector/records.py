"""pgvector: the neutral ``RecordStore`` (records by id) over a ``ScopedVectorStore``."""

from __future__ import annotations

from sentinel_vectors import filters as F
from sentinel_vectors.records import Record, WrapperRecords
from sentinel_vectors_pgvector.store import ScopedVectorStore

__all__ = ["PgvectorRecords"]


class PgvectorRecords(WrapperRecords[ScopedVectorStore]):
    """Records of one caller in a chunk table; every call is a ``ScopedVectorStore`` call.

    Texts go to the ``document`` column; distances are the store's.
    """

    async def _get(self, ids: list[str], with_embeddings: bool) -> list[Record]:
        found = await self.store.get(ids, include_embeddings=with_embeddings)
        return [
            Record(id=r.id, text=r.document or "", metadata=dict(r.metadata), embedding=r.embedding)
            for r in found
        ]

    async def _select(self, flt: F.Filter | None, limit: int | None) -> list[Record]:
        found = await self.store.get(filter=flt, limit=limit)
        return [Record(id=r.id, text=r.document or "", metadata=dict(r.metadata)) for r in found]

    async def _delete(self, ids: list[str]) -> int:
        return await self.store.delete(ids)

    async def _delete_where(self, flt: F.Filter) -> None:
        await self.store.delete(filter=flt)

    async def _search(
        self, embedding: list[float], k: int, flt: F.Filter | None, with_embeddings: bool
    ) -> list[Record]:
        found = await self.store.query(embedding, k, filter=flt, include_embeddings=with_embeddings)
        return [
            Record(
                id=h.id,
                text=h.document or "",
                metadata=dict(h.metadata),
                embedding=None if h.embedding is None else [float(x) for x in h.embedding],
                distance=float(h.distance),
            )
            for h in found
        ]
