"""LlamaIndex plug-in of sentinel-vectors: a retriever scoped to the caller.

:class:`ScopedRetriever` is a LlamaIndex ``BaseRetriever`` (``retrieve`` /
``aretrieve``, so ``RetrieverQueryEngine`` and chat engines take it) over one caller's
:class:`~sentinel_vectors.index.ChunkIndex`: Chroma, Qdrant or pgvector, with the
workspace filter and Sentinel's ``accessible()`` constraint applied by the store. Each
``NodeWithScore`` has the chunk id as node id, the resource id as ``ref_doc_id``, and
``resource_id``, ``chunk_id``, ``score`` and ``distance`` in its metadata.

:class:`SentinelVectorStore` is a LlamaIndex ``BasePydanticVectorStore`` over the same
backends (``VectorStoreIndex.from_vector_store``, ``IngestionPipeline``), reading and
writing only within the caller's scope.

FastAPI: :func:`sentinel_vectors_llamaindex.fastapi.scoped_retriever`. See ``docs/rag.md``.
"""

from sentinel_vectors_llamaindex.retriever import (
    EmbeddingModel,
    LlamaIndexEmbeddings,
    ScopedRetriever,
    to_node,
)
from sentinel_vectors_llamaindex.store import SentinelVectorStore, to_filter

__all__ = [
    "EmbeddingModel",
    "LlamaIndexEmbeddings",
    "ScopedRetriever",
    "SentinelVectorStore",
    "to_filter",
    "to_node",
]
