"""The RAG retrievers in the leak harness: writes as the Chroma backend, searches through
the LangChain or LlamaIndex ``ScopedRetriever`` over the binding's chunk index.

The retrievers take query texts; the harness has query vectors. :class:`QueryVector` is
an embedder whose every query embeds to the world's query vector, so the search path is
the retriever's own: embed, ``ChunkIndex.search`` with the caller filter, scores, then
the framework's documents or nodes, whose citation metadata gives the chunk ids back.
"""

from __future__ import annotations

from collections.abc import Sequence

import chromadb
import pytest

from sentinel_vectors.filters import Filter
from sentinel_vectors.index import ChunkIndex
from sentinel_vectors.testing.servers.chroma import ChromaServer
from sentinel_vectors_chroma import ChromaBackend
from tests.leak.chroma_backend import ChromaLeakBackend


class QueryVector:
    """Embeddings whose query vector is fixed (the harness's); documents are not embedded."""

    def __init__(self, vector: Sequence[float]) -> None:
        self.vector = [float(x) for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the harness writes its own vectors")

    def embed_query(self, text: str) -> list[float]:
        return list(self.vector)


def _negated(distance: float) -> float:
    return -distance  # l2 collections: any decreasing function keeps the order


class LangChainLeakBackend(ChromaLeakBackend):
    """Searches through ``sentinel_vectors_langchain.ScopedRetriever.ainvoke``."""

    def _index(self, handle: object, auth: object) -> ChunkIndex:
        return ChromaBackend(handle, resource_type="document").index(auth)  # type: ignore[arg-type]

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        from sentinel_vectors_langchain import ScopedRetriever

        retriever = ScopedRetriever(
            index=self._index(handle, auth),
            embeddings=QueryVector(query),
            k=k,
            filter=flt,
            relevance=_negated,
        )
        docs = await retriever.ainvoke("the world's query")
        assert all(d.id == d.metadata["chunk_id"] for d in docs)
        return [str(d.metadata["chunk_id"]) for d in docs]


class LlamaIndexLeakBackend(LangChainLeakBackend):
    """Searches through ``sentinel_vectors_llamaindex.ScopedRetriever.aretrieve``."""

    async def search(
        self, handle: object, auth: object, query: Sequence[float], k: int, flt: Filter | None
    ) -> list[str]:
        from sentinel_vectors_llamaindex import ScopedRetriever

        retriever = ScopedRetriever(
            self._index(handle, auth), QueryVector(query), k=k, filter=flt, relevance=_negated
        )
        nodes = await retriever.aretrieve("the world's query")
        return [n.node.node_id for n in nodes]


@pytest.fixture
def leak_langchain_chroma(chroma_http: ChromaServer) -> LangChainLeakBackend:
    """The LangChain retriever over the session's real Chroma server."""
    return LangChainLeakBackend(
        "langchain-chroma", chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    )


@pytest.fixture
def leak_llamaindex_chroma(chroma_http: ChromaServer) -> LlamaIndexLeakBackend:
    """The LlamaIndex retriever over the session's real Chroma server."""
    return LlamaIndexLeakBackend(
        "llamaindex-chroma", chromadb.HttpClient(host=chroma_http.host, port=chroma_http.port)
    )
