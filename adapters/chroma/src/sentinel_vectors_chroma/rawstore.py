"""Chroma's :class:`~sentinel_vectors.operations.RawStore`: unscoped access for operations.

For the command line and operations scripts only (``sentinel_vectors.operations``);
requests go through :class:`~sentinel_vectors_chroma.ScopedCollection`. Takes a
blocking ``chromadb`` ``Collection`` (``HttpClient`` or ``PersistentClient``) and calls
it in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from sentinel_vectors.access import ID_SEPARATOR, WORKSPACE_KEY, namespaced_id
from sentinel_vectors.errors import InvalidInputError
from sentinel_vectors.operations.store import Finding, RecordId, StoredRecord

__all__ = ["ChromaRawStore"]


def _logical(key: str) -> str:
    head, sep, tail = key.partition(ID_SEPARATOR)
    if sep:
        try:
            if str(uuid.UUID(head)) == head:
                return tail
        except ValueError:
            pass
    return key


class ChromaRawStore:
    """Unscoped record access to one Chroma collection.

    Args:
        collection: a blocking ``chromadb`` ``Collection``.
        resource_key: the metadata key naming each record's resource.
        close: called by :meth:`aclose` (e.g. to drop the client).
    """

    backend = "chroma"

    def __init__(
        self,
        collection: Any,
        *,
        resource_key: str = "resource_id",
        close: Callable[[], None] | None = None,
    ) -> None:
        self.collection = collection
        self._resource_key = resource_key
        self._close = close

    @property
    def name(self) -> str:
        """The collection's name."""
        return str(self.collection.name)

    @property
    def resource_key(self) -> str:
        """The metadata key naming each record's resource."""
        return self._resource_key

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.collection, method), **kwargs)

    @staticmethod
    def _where(workspace_id: str | None) -> dict[str, Any] | None:
        return None if workspace_id is None else {WORKSPACE_KEY: workspace_id}

    async def count(self, workspace_id: str | None = None) -> int:
        """Records in the collection (stamped with ``workspace_id``, if given)."""
        if workspace_id is None:
            return int(await self._call("count"))
        got = await self._call("get", where=self._where(workspace_id), include=[])
        return len(got["ids"])

    @staticmethod
    def _records(got: Mapping[str, Any], embeddings: bool) -> list[StoredRecord]:
        ids = got["ids"]
        docs = got.get("documents") or [None] * len(ids)
        metas = got.get("metadatas") or [None] * len(ids)
        vecs = got.get("embeddings") if embeddings else None
        out = []
        for i, key in enumerate(ids):
            vec = None if vecs is None else tuple(float(x) for x in vecs[i])
            out.append(
                StoredRecord(
                    key=str(key),
                    id=_logical(str(key)),
                    document=docs[i],
                    metadata=dict(metas[i] or {}),
                    embedding=vec,
                )
            )
        return out

    def _include(self, embeddings: bool) -> list[str]:
        return ["documents", "metadatas", *(["embeddings"] if embeddings else [])]

    async def scan(
        self,
        *,
        workspace_id: str | None = None,
        batch_size: int = 256,
        embeddings: bool = False,
    ) -> AsyncIterator[list[StoredRecord]]:
        """Every record, ``batch_size`` at a time (Chroma's ``limit``/``offset``)."""
        offset = 0
        while True:
            got = await self._call(
                "get",
                where=self._where(workspace_id),
                limit=batch_size,
                offset=offset,
                include=self._include(embeddings),
            )
            batch = self._records(got, embeddings)
            if not batch:
                return
            yield batch
            offset += len(batch)

    async def fetch(self, keys: Sequence[str], *, embeddings: bool = True) -> list[StoredRecord]:
        """The records stored under ``keys``."""
        if not keys:
            return []
        got = await self._call("get", ids=list(keys), include=self._include(embeddings))
        return self._records(got, embeddings)

    async def write(self, records: Sequence[StoredRecord]) -> None:
        """Upsert ``records`` under their keys."""
        if not records:
            return
        if any(r.embedding is None for r in records):
            raise InvalidInputError("every record written to Chroma needs its embedding")
        await self._call(
            "upsert",
            ids=[r.key for r in records],
            embeddings=[list(r.embedding or ()) for r in records],
            metadatas=[dict(r.metadata) or None for r in records],
            documents=[r.document for r in records],
        )

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete the records stored under ``keys``."""
        if keys:
            await self._call("delete", ids=list(keys))

    def physical_key(self, workspace_id: str, record_id: RecordId) -> str:
        """``"<workspace>:<id>"``, as ``ScopedCollection`` stores it."""
        if not isinstance(record_id, str) or not record_id:
            raise InvalidInputError(f"Chroma ids are non-empty strings, got {record_id!r}")
        return namespaced_id(workspace_id, record_id)

    async def nearest(
        self, embedding: Sequence[float], k: int, *, workspace_id: str
    ) -> list[RecordId]:
        """The ids of the ``k`` records of ``workspace_id`` nearest ``embedding``."""
        got = await self._call(
            "query",
            query_embeddings=[list(embedding)],
            n_results=k,
            where=self._where(workspace_id),
            include=[],
        )
        return [_logical(str(key)) for key in got["ids"][0]]

    async def check_config(self) -> list[Finding]:
        """The embedding function (must be none) and the distance (reported)."""
        config = getattr(self.collection, "configuration_json", None) or {}
        findings: list[Finding] = []
        function = config.get("embedding_function")
        # None, or {"type": "legacy"} (what a client that passed embedding_function=None
        # persists): nothing embeds. A "known"/"custom" one would embed implicitly.
        if isinstance(function, dict) and function.get("type") not in (None, "legacy"):
            findings.append(
                Finding(
                    "chroma.embedding_function",
                    f"collection {self.name!r} has an embedding function "
                    f"({function.get('name', '?')}); the suite never embeds "
                    f"implicitly: recreate it with embedding_function=None",
                    "error",
                )
            )
        space = (config.get("hnsw") or {}).get("space") or (
            (config.get("spann") or {}).get("space")
        )
        findings.append(
            Finding("chroma.distance", f"collection {self.name!r} distance: {space or '?'}", "info")
        )
        return findings

    async def aclose(self) -> None:
        """Run the ``close`` callback, if any."""
        if self._close is not None:
            self._close()
