"""The framework-native vector stores in the leak harness, on Qdrant's local mode.

Read side: the harness's chunks are written, and searched and listed, through
``sentinel_vectors_langchain.SentinelVectorStore`` (``aadd_texts``,
``asimilarity_search_by_vector``, the records view's ``select``) or
``sentinel_vectors_llamaindex.SentinelVectorStore`` (``async_add``, ``aquery``,
``aget_nodes``). Write side: the raw-write scripts upsert and delete through the same
stores (``aadd_texts`` / ``adelete``, ``async_add`` / ``adelete_nodes``) and the
collection is read back unscoped. Qdrant's local mode is the cheapest real backend, and
its id mapping (any string id on a UUID-only store) is the stores' most involved path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from qdrant_client import QdrantClient

from sentinel_vectors.filters import Filter
from sentinel_vectors.scope import WORKSPACE_KEY
from sentinel_vectors.testing.leak import Chunk
from sentinel_vectors.testing.write_leak import RESOURCE_TYPE, StoredRecords
from sentinel_vectors_qdrant import QdrantBackend
from sentinel_vectors_qdrant.points import ID_KEY
from sentinel_vectors_qdrant.records import RECORD_ID_KEY
from tests.leak.qdrant_backend import Handle, QdrantLeakBackend
from tests.leak.write_backends import _VECTOR, QdrantWriteBackend


class Vectors:
    """Embeddings by lookup: a text embeds to the vector registered for it."""

    def __init__(self, table: dict[str, list[float]], query: Sequence[float] = ()) -> None:
        self.table = table
        self.query = [float(x) for x in query]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return list(self.query)


class StoreLeakBackend(QdrantLeakBackend):
    """The harness's reads and writes through one framework store (``framework``)."""

    def __init__(self, name: str, client: QdrantClient, framework: str) -> None:
        super().__init__(name, client)
        self.framework = framework

    def _store(self, handle: Handle, auth: object, embeddings: Vectors | None = None) -> Any:
        backend = QdrantBackend(self.client, handle.name, resource_type="document")
        if self.framework == "langchain":
            from sentinel_vectors_langchain import SentinelVectorStore

            return SentinelVectorStore.from_backend(
                backend,
                auth,  # type: ignore[arg-type]
                embeddings=embeddings or Vectors({}),
            )
        from sentinel_vectors_llamaindex import SentinelVectorStore as LlamaStore

        return LlamaStore.from_backend(backend, auth)  # type: ignore[arg-type]

    async def write(self, handle: object, auth: object, chunks: Sequence[Chunk]) -> None:
        assert isinstance(handle, Handle)
        metas = [{**c.metadata, "owner_id": c.resource.owner_id} for c in chunks]
        if self.framework == "langchain":
            table = {c.chunk_id: list(c.vector) for c in chunks}
            store = self._store(handle, auth, Vectors(table))
            ids = [c.chunk_id for c in chunks]
            await store.aadd_texts(ids, metas, ids=ids)
            return
        from llama_index.core.schema import TextNode

        nodes = [
            TextNode(id_=c.chunk_id, text=c.chunk_id, embedding=list(c.vector), metadata=m)
            for c, m in zip(chunks, metas, strict=True)
        ]
        await self._store(handle, auth).async_add(nodes)

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        assert isinstance(handle, Handle)
        store = self._store(handle, auth, Vectors({}, query))
        if self.framework == "langchain":
            docs = await store.asimilarity_search_by_vector(list(query), k, filter=flt)
            return [str(d.id) for d in docs]
        from llama_index.core.vector_stores.types import VectorStoreQuery

        res = await store.aquery(
            VectorStoreQuery(query_embedding=list(query), similarity_top_k=k, filters=flt)
        )
        return list(res.ids or [])

    async def listing(self, handle: object, auth: object, flt: Filter | None) -> list[str]:
        assert isinstance(handle, Handle)
        store = self._store(handle, auth)
        if self.framework == "langchain":
            return [r.id for r in await store.records.select(flt)]
        return [n.node_id for n in await store.aget_nodes(filters=flt)]


class StoreWriteBackend(QdrantWriteBackend):
    """The raw-write scripts through one framework store (``framework``)."""

    def __init__(self, client: QdrantClient, framework: str) -> None:
        super().__init__(client)
        self.framework = framework
        self.name = f"{framework}-store-qdrant-local"

    def _store(self, handle: object, auth: object) -> Any:
        backend = QdrantBackend(self.client, str(handle), resource_type=RESOURCE_TYPE)
        if self.framework == "langchain":
            from sentinel_vectors_langchain import SentinelVectorStore

            embeddings = Vectors({"text": list(_VECTOR)})
            return SentinelVectorStore.from_backend(backend, auth, embeddings=embeddings)  # type: ignore[arg-type]
        from sentinel_vectors_llamaindex import SentinelVectorStore as LlamaStore

        return LlamaStore.from_backend(backend, auth)  # type: ignore[arg-type]

    async def raw_upsert(
        self, handle: object, auth: object, record_id: str, resource_id: str
    ) -> None:
        store = self._store(handle, auth)
        if self.framework == "langchain":
            await store.aadd_texts(["text"], [{"resource_id": resource_id}], ids=[record_id])
            return
        from llama_index.core.schema import TextNode

        node = TextNode(
            id_=record_id,
            text="text",
            embedding=list(_VECTOR),
            metadata={"resource_id": resource_id},
        )
        await store.async_add([node])

    async def raw_delete(self, handle: object, auth: object, record_ids: Sequence[str]) -> None:
        store = self._store(handle, auth)
        if self.framework == "langchain":
            await store.adelete(list(record_ids))
        else:
            await store.adelete_nodes(node_ids=list(record_ids))

    async def stored(self, handle: object) -> StoredRecords:
        records, _ = self.client.scroll(str(handle), limit=100_000, with_payload=True)
        out: StoredRecords = {}
        for record in records:
            payload = record.payload or {}
            rid = payload.get(RECORD_ID_KEY, payload[ID_KEY])
            out[(str(payload[WORKSPACE_KEY]), str(rid))] = str(payload["resource_id"])
        return out


@pytest.fixture(params=["langchain", "llamaindex"])
def leak_store(request: pytest.FixtureRequest) -> Iterator[StoreLeakBackend]:
    """Each framework store's reads over Qdrant's local mode."""
    client = QdrantClient(":memory:")
    yield StoreLeakBackend(f"{request.param}-store-qdrant-local", client, request.param)
    client.close()


@pytest.fixture(params=["langchain", "llamaindex"])
def write_store(request: pytest.FixtureRequest) -> Iterator[StoreWriteBackend]:
    """Each framework store's raw writes over Qdrant's local mode."""
    client = QdrantClient(":memory:")
    yield StoreWriteBackend(client, request.param)
    client.close()
