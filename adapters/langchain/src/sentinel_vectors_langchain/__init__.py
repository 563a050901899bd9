"""LangChain plug-in of sentinel-vectors: a retriever scoped to the caller.

:class:`ScopedRetriever` is a LangChain ``BaseRetriever`` (``invoke`` / ``ainvoke``, so
it drops into any LCEL chain) over one caller's
:class:`~sentinel_vectors.index.ChunkIndex`: Chroma, Qdrant or pgvector, with the
workspace filter and Sentinel's ``accessible()`` constraint applied by the store. Each
returned ``Document`` has ``id`` = chunk id and ``metadata`` with ``resource_id``,
``chunk_id``, ``score`` and ``distance`` for citations.

FastAPI: :func:`sentinel_vectors_langchain.fastapi.scoped_retriever`. See ``docs/rag.md``.
"""

from sentinel_vectors_langchain.retriever import ScopedRetriever, to_document

__all__ = ["ScopedRetriever", "to_document"]
