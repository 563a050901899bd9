"""LangChain plug-in of sentinel-vectors: a retriever scoped to the caller.

:class:`ScopedRetriever` is a LangChain ``BaseRetriever`` (``invoke`` / ``ainvoke``, so
it drops into any LCEL chain) over one caller's
:class:`~sentinel_vectors.index.ChunkIndex`: Chroma, Qdrant or pgvector, with the
workspace filter and Sentinel's ``accessible()`` constraint applied by the store. Each
returned ``Document`` has ``id`` = chunk id and ``metadata`` with ``resource_id``,
``chunk_id``, ``score`` and ``distance`` for citations.

:class:`SentinelVectorStore` is a LangChain ``VectorStore`` over the same backends
(``add_documents``, searches, MMR, ``delete``, ``get_by_ids``, ``as_retriever``, the
indexing API), reading and writing only within the caller's scope.

FastAPI: :func:`sentinel_vectors_langchain.fastapi.scoped_retriever`. See ``docs/rag.md``.
"""

from sentinel_vectors_langchain.retriever import ScopedRetriever, to_document
from sentinel_vectors_langchain.store import SentinelVectorStore

__all__ = ["ScopedRetriever", "SentinelVectorStore", "to_document"]
