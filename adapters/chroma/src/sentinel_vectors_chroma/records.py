"""Chroma: the neutral ``RecordStore`` (records by id) over a ``ScopedCollection``."""

from __future__ import annotations

from sentinel_vectors import filters as F
from sentinel_vectors.records import Record, WrapperRecords
from sentinel_vectors_chroma.collection import ScopedCollection

__all__ = ["ChromaRecords"]


class ChromaRecords(WrapperRecords[ScopedCollection]):
    """Records of one caller in a Chroma collection; every call is a ``ScopedCollection`` call.

    Texts go to Chroma's ``documents`` column; distances are Chroma's.
    """

    async def _get(self, ids: list[str], with_embeddings: bool) -> list[Record]:
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        res = await self.store.get(ids=ids, include=include)
        vectors = res.get("embeddings") if with_embeddings else None
        return [
            Record(
                id=str(rid),
                text=res["documents"][i] or "",
                metadata=dict(res["metadatas"][i] or {}),
                embedding=None if vectors is None else [float(x) for x in vectors[i]],
            )
            for i, rid in enumerate(res["ids"])
        ]

    async def _select(self, flt: F.Filter | None, limit: int | None) -> list[Record]:
        res = await self.store.get(where=flt, limit=limit, include=["documents", "metadatas"])
        return [
            Record(
                id=str(rid),
                text=res["documents"][i] or "",
                metadata=dict(res["metadatas"][i] or {}),
            )
            for i, rid in enumerate(res["ids"])
        ]

    async def _delete(self, ids: list[str]) -> int:
        res = await self.store.delete(ids=ids)
        return int(res["deleted"])

    async def _delete_where(self, flt: F.Filter) -> None:
        await self.store.delete(where=flt)

    async def _search(
        self, embedding: list[float], k: int, flt: F.Filter | None, with_embeddings: bool
    ) -> list[Record]:
        include = ["documents", "metadatas", "distances"]
        if with_embeddings:
            include.append("embeddings")
        res = await self.store.query(
            query_embeddings=[embedding], n_results=k, where=flt, include=include
        )
        vectors = res["embeddings"][0] if with_embeddings else None
        return [
            Record(
                id=str(rid),
                text=res["documents"][0][i] or "",
                metadata=dict(res["metadatas"][0][i] or {}),
                embedding=None if vectors is None else [float(x) for x in vectors[i]],
                distance=float(res["distances"][0][i]),
            )
            for i, rid in enumerate(res["ids"][0])
        ]
